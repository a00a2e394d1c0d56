/**
 * File transfer through the desktop's redirected drive: a panel that browses
 * the drive, downloads files, and uploads by button or by dropping files on
 * the desktop, with a progress bar per transfer. Files the desktop itself
 * sends (its Download folder, printed PDFs) download as they arrive.
 *
 * The controls shown follow what the launch said the policy allows; the
 * gateway enforces the same whatever this page does.
 */
import Guacamole from 'guacamole-common-js';
import { byId, h } from '../dom.js';
import type { Capabilities } from '../api.js';

const INDEX_MIMETYPE = 'application/vnd.glyptodon.guacamole.stream-index+json';

interface Entry {
  path: string;
  name: string;
  dir: boolean;
}

type Send = (opcode: string, ...args: Array<string | number>) => void;

function base64ToBytes(data: string): Uint8Array<ArrayBuffer> {
  const bin = atob(data);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

export class FilesPanel {
  private readonly panel = byId('files-panel');
  private readonly toggle = byId<HTMLButtonElement>('files-toggle');
  private readonly list = byId<HTMLUListElement>('files-list');
  private readonly pathLabel = byId('files-path');
  private readonly upButton = byId<HTMLButtonElement>('files-up');
  private readonly uploadButton = byId<HTMLButtonElement>('files-upload');
  private readonly input = byId<HTMLInputElement>('files-input');
  private readonly transfers = byId<HTMLUListElement>('transfers');
  private object: Guacamole.Object | null = null;
  private cwd = '/';
  private caps: Capabilities = { drive: false, upload: false, download: false, clipboardCopy: false, clipboardPaste: false };
  private sendInternal: Send | null = null;

  constructor(dropTarget: HTMLElement) {
    this.toggle.addEventListener('click', () => this.setOpen(!this.panel.classList.contains('is-open')));
    this.upButton.addEventListener('click', () => void this.show(this.parent(this.cwd)));
    this.uploadButton.addEventListener('click', () => this.input.click());
    this.input.addEventListener('change', () => {
      for (const f of this.input.files ?? []) this.upload(f);
      this.input.value = '';
    });
    dropTarget.addEventListener('dragover', (e) => {
      if (!this.object || !this.caps.upload) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    });
    dropTarget.addEventListener('drop', (e) => {
      if (!this.object || !this.caps.upload) return;
      e.preventDefault();
      for (const f of e.dataTransfer?.files ?? []) this.upload(f);
      this.setOpen(true);
    });
  }

  setCapabilities(caps: Capabilities): void {
    this.caps = caps;
    this.uploadButton.hidden = !caps.upload;
  }

  /** Wires a (new) session's client; `send` writes a tunnel-internal instruction. */
  attach(client: Guacamole.Client, send: Send): void {
    this.sendInternal = send;
    this.object = null;
    client.onfilesystem = (object: Guacamole.Object) => {
      this.object = object;
      this.toggle.hidden = false;
      void this.show('/');
    };
    client.onfile = (stream: Guacamole.InputStream, mimetype: string, name: string) => {
      if (!this.caps.download) {
        stream.sendAck('Downloads are disabled', Guacamole.Status.Code.CLIENT_FORBIDDEN);
        return;
      }
      const row = this.transferRow(name, 'download');
      this.receive(stream, mimetype, row.progress).then(
        (blob) => {
          this.finishRow(row, 'done', `${formatBytes(blob.size)}, downloaded`);
          this.save(blob, name);
        },
        () => this.finishRow(row, 'error', 'The download stopped.'),
      );
    };
  }

  private setOpen(open: boolean): void {
    this.panel.classList.toggle('is-open', open);
    this.toggle.setAttribute('aria-expanded', String(open));
    if (open) void this.show(this.cwd);
  }

  private parent(p: string): string {
    const parts = p.split('/').filter(Boolean);
    parts.pop();
    return '/' + parts.join('/');
  }

  /** Reads a stream to the end, acknowledging each blob (guacd sends the next one on our ack). */
  private receive(stream: Guacamole.InputStream, mimetype: string, progress?: HTMLProgressElement): Promise<Blob> {
    return new Promise((resolve) => {
      const parts: Uint8Array<ArrayBuffer>[] = [];
      let bytes = 0;
      stream.onblob = (data: string) => {
        const chunk = base64ToBytes(data);
        parts.push(chunk);
        bytes += chunk.length;
        if (progress) progress.value = bytes;
        stream.sendAck('OK', Guacamole.Status.Code.SUCCESS);
      };
      stream.onend = () => resolve(new Blob(parts, { type: mimetype }));
      stream.sendAck('OK', Guacamole.Status.Code.SUCCESS);
    });
  }

  private list_(path: string): Promise<Entry[]> {
    const object = this.object;
    if (!object) return Promise.resolve([]);
    return new Promise((resolve) => {
      object.requestInputStream(path, (stream: Guacamole.InputStream, mimetype: string) => {
        if (mimetype !== INDEX_MIMETYPE) {
          stream.sendAck('Not a directory', Guacamole.Status.Code.CLIENT_BAD_TYPE);
          return resolve([]);
        }
        void this.receive(stream, mimetype).then(async (blob) => {
          const index = JSON.parse(await blob.text()) as Record<string, string>;
          const entries = Object.entries(index).map(([p, type]) => ({ path: p, name: p.split('/').pop() ?? p, dir: type === INDEX_MIMETYPE }));
          entries.sort((a, b) => Number(b.dir) - Number(a.dir) || a.name.localeCompare(b.name));
          resolve(entries);
        });
      });
    });
  }

  private async show(path: string): Promise<void> {
    this.cwd = path;
    this.pathLabel.textContent = path;
    this.upButton.disabled = path === '/';
    const entries = await this.list_(path);
    if (this.cwd !== path) return;
    this.list.replaceChildren(
      ...entries.map((e) => {
        const button = h('button', { class: 'files-entry', type: 'button', 'data-name': e.name, 'data-type': e.dir ? 'dir' : 'file' }, `${e.dir ? '▸ ' : ''}${e.name}${e.dir ? '/' : ''}`);
        if (e.dir) button.addEventListener('click', () => void this.show(e.path));
        else if (this.caps.download) button.addEventListener('click', () => this.download(e));
        else {
          button.disabled = true;
          button.title = 'Downloads are not allowed for this desktop';
        }
        return h('li', {}, button);
      }),
    );
    if (entries.length === 0) this.list.replaceChildren(h('li', { class: 'files-empty' }, 'This folder is empty.'));
    this.list.dataset.loaded = path;
  }

  private download(e: Entry): void {
    const object = this.object;
    if (!object) return;
    const row = this.transferRow(e.name, 'download');
    object.requestInputStream(e.path, (stream: Guacamole.InputStream, mimetype: string) => {
      this.receive(stream, mimetype, row.progress).then(
        (blob) => {
          this.finishRow(row, 'done', `${formatBytes(blob.size)}, downloaded`);
          this.save(blob, e.name);
        },
        () => this.finishRow(row, 'error', 'The download stopped.'),
      );
    });
  }

  private save(blob: Blob, name: string): void {
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  upload(file: File): void {
    const object = this.object;
    if (!object || !this.caps.upload) return;
    const dir = this.cwd.endsWith('/') ? this.cwd : this.cwd + '/';
    const stream = object.createOutputStream(file.type || 'application/octet-stream', dir + file.name);
    const row = this.transferRow(file.name, 'upload', file.size);
    let finished = false;
    const fail = (message: string) => {
      if (finished) return;
      finished = true;
      this.finishRow(row, 'error', message);
    };
    row.cancel.hidden = false;
    row.cancel.addEventListener('click', () => {
      if (finished) return;
      finished = true;
      // the gateway closes the stream at guacd and removes what was written
      this.sendInternal?.('cancel-upload', stream.index);
      this.finishRow(row, 'cancelled', 'Cancelled; nothing was kept.');
    });
    // guacd acknowledges the `put` itself before any data: only then start writing. (A writer
    // started at once counts that acknowledgement as its first chunk's, runs one read ahead, and
    // BlobWriter's single FileReader then drops a chunk.)
    stream.onack = (status: Guacamole.Status) => {
      if (status.isError()) return fail(status.message || 'The upload was refused.');
      if (finished) return;
      const writer = new Guacamole.BlobWriter(stream);
      writer.onprogress = (_blob: Blob, offset: number) => (row.progress.value = offset);
      writer.onack = (s: Guacamole.Status) => {
        if (s.isError()) fail(s.message || 'The upload was refused.');
      };
      writer.oncomplete = () => {
        if (finished) return;
        finished = true;
        writer.sendEnd();
        this.finishRow(row, 'done', `${formatBytes(file.size)}, uploaded`);
        void this.show(this.cwd);
      };
      writer.sendBlob(file);
    };
  }

  private transferRow(name: string, kind: 'upload' | 'download', size?: number) {
    const progress = h('progress', { class: 'transfer-progress', max: size ?? 1, value: 0 }) as HTMLProgressElement;
    if (size === undefined) progress.removeAttribute('value');
    const note = h('span', { class: 'transfer-note' }, kind === 'upload' ? 'Uploading…' : 'Downloading…');
    const cancel = h('button', { class: 'button button-quiet transfer-cancel', type: 'button', hidden: true }, 'Cancel');
    const li = h('li', { class: 'transfer', 'data-name': name, 'data-kind': kind, 'data-state': 'running' }, h('span', { class: 'transfer-name' }, `${kind === 'upload' ? '↑' : '↓'} ${name}`), progress, note, cancel) as HTMLLIElement;
    this.transfers.prepend(li);
    return { li, progress, note, cancel };
  }

  private finishRow(row: ReturnType<FilesPanel['transferRow']>, state: 'done' | 'error' | 'cancelled', text: string): void {
    row.li.dataset.state = state;
    row.note.textContent = text;
    row.cancel.hidden = true;
    if (state === 'done') row.progress.value = row.progress.max;
  }
}
