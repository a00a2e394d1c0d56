import type { Selector } from '../access-request.js';

export const everyone: Selector<{ everyone: true }> = {
  test: () => true,
  describe: () => 'everyone',
};
