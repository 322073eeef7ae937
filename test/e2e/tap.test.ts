// End to end through the TAP uplink (hosts without XDP): guest namespaces → test netfronts →
// backend → drivers/tap, whose TAP lives in the peer namespace. Same checks as afxdp.test.ts.
import t from 'tap';
import { pathSuite } from './suite.js';

pathSuite(t, 'tap');
