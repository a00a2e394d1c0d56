import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { DriveFolder } from './rdp-params.js';

/**
 * One folder per user behind redirected drives. The folder is named by a hash of the user's
 * stable key (tid:oid), so paths carry no names or email addresses and two users never meet.
 */
export class DriveFolders {
  constructor(
    private readonly root: string,
    private readonly guacdRoot: string = root,
    private readonly driveName = 'Drawbridge',
  ) {}

  private static folderName(userKey: string): string {
    return createHash('sha256').update(userKey, 'utf8').digest('hex').slice(0, 32);
  }

  /** The gateway's path to the user's folder, created if missing. */
  localPath(userKey: string): string {
    const dir = path.resolve(this.root, DriveFolders.folderName(userKey));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** What guacd is given. */
  forUser(userKey: string): DriveFolder {
    this.localPath(userKey);
    return { guacdPath: path.posix.join(this.guacdRoot, DriveFolders.folderName(userKey)), name: this.driveName };
  }

  /**
   * Removes a partial upload. `name` comes from the browser (the `put` stream's name), so it is
   * resolved inside the user's folder and anything that would land outside is ignored.
   */
  removeUpload(userKey: string, name: string): boolean {
    const dir = this.localPath(userKey);
    const target = path.resolve(dir, '.' + path.posix.normalize('/' + name));
    if (target === dir || !target.startsWith(dir + path.sep)) return false;
    rmSync(target, { force: true });
    return true;
  }
}
