/**
 * Clipboard transfer over Guacamole streams, independent of any UI.
 */
import Guacamole from 'guacamole-common-js';
import { Utf8StreamDecoder } from './utf8-decoder.js';

export function isTextMimetype(mimetype: string): boolean {
  return /^text\//i.test(mimetype.trim());
}

/**
 * Collects a remote clipboard stream into one string. Resolves only when the
 * stream ends, so a large clipboard split into many blobs is delivered
 * whole rather than as a flicker of partial values.
 */
export function readClipboardText(stream: Guacamole.InputStream): Promise<string> {
  return new Promise((resolve) => {
    const decoder = new Utf8StreamDecoder();
    const reader = new Guacamole.ArrayBufferReader(stream);
    reader.ondata = (data: ArrayBuffer) => decoder.push(new Uint8Array(data));
    reader.onend = () => resolve(decoder.end());
  });
}

/**
 * Sends text as the remote clipboard. StringWriter encodes UTF-16 code units
 * one by one, which matches guacd's per-code-unit conversion to the RDP
 * clipboard, so astral characters (emoji) survive the round trip.
 */
export function writeClipboardText(client: Guacamole.Client, text: string): void {
  const stream = client.createClipboardStream('text/plain');
  const writer = new Guacamole.StringWriter(stream);
  writer.sendText(text);
  writer.sendEnd();
}
