// End to end through the AF_XDP uplink: guest namespaces (Linux on TAPs) → test netfronts →
// backend → drivers/afxdp on a veth → peer namespace. ARP, broadcast, ping, UDP streams, iperf3.
import t from 'tap';
import { pathSuite } from './suite.js';

pathSuite(t, 'afxdp');
