import t from 'tap';
import { native } from '../../src/native/index.js';

t.test('addon loads', async (t) => {
  t.equal(native.abiVersion, 1);
});
