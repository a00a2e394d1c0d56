import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HEAP_FLOOR_FLAG, heapFloorMissing } from '../../server/runtime/heap-floor.js';

const read = (f: string) => readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8');

describe('the heap floor flag', () => {
  it('every way the product starts a long-running node gives it (the bin cannot: busybox env has no -S)', () => {
    expect(read('server/Dockerfile')).toContain(`ENTRYPOINT ["node", "${HEAP_FLOOR_FLAG}", "bin/drawbridge.js"]`);
    expect(JSON.parse(read('package.json')).scripts.start).toContain(`node ${HEAP_FLOOR_FLAG} bin/drawbridge.js`);
    expect(read('server/connector/examples/drawbridge-connector.xml')).toContain(`<arguments>${HEAP_FLOOR_FLAG} "C:\\Program Files\\Drawbridge\\bin\\drawbridge.js"`);
    expect(read('server/connector/examples/drawbridge-connector.service')).toContain(`ExecStart=/usr/bin/env node ${HEAP_FLOOR_FLAG} /usr/bin/drawbridge connector run`);
  });

  it('is noticed when missing, in either spelling', () => {
    expect(heapFloorMissing([])).toBe(true);
    expect(heapFloorMissing(['--inspect'])).toBe(true);
    expect(heapFloorMissing([HEAP_FLOOR_FLAG])).toBe(false);
    expect(heapFloorMissing(['--initial_old_space_size=128'])).toBe(false);
  });
});
