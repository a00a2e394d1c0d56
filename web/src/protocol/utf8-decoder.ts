/**
 * Streaming UTF-8 decoder that tolerates what guacd actually sends.
 *
 * guacd converts the remote clipboard from UTF-16 one code unit at a time,
 * so characters outside the BMP arrive as two 3-byte "surrogate" sequences
 * (CESU-8) rather than one 4-byte sequence. TextDecoder would turn those
 * into U+FFFD, and guacamole-common-js's own parser truncates real 4-byte
 * sequences. This decoder accepts both, and keeps state across chunks so a
 * character split over two blobs still decodes.
 */
export class Utf8StreamDecoder {
  private pending = 0; // continuation bytes still expected
  private codepoint = 0;
  private needed = 0; // total length of the sequence in progress
  private parts: string[] = [];
  private chunk: number[] = [];

  push(bytes: Uint8Array): void {
    for (const byte of bytes) {
      if (this.pending > 0) {
        if ((byte & 0xc0) === 0x80) {
          this.codepoint = (this.codepoint << 6) | (byte & 0x3f);
          if (--this.pending === 0) this.emit(this.codepoint);
          continue;
        }
        // Sequence cut short: replace it, then treat this byte as a new start.
        this.pending = 0;
        this.emitUnit(0xfffd);
      }
      if (byte < 0x80) this.emitUnit(byte);
      else if ((byte & 0xe0) === 0xc0) this.start(byte & 0x1f, 2);
      else if ((byte & 0xf0) === 0xe0) this.start(byte & 0x0f, 3);
      else if ((byte & 0xf8) === 0xf0) this.start(byte & 0x07, 4);
      else this.emitUnit(0xfffd);
    }
  }

  /** Returns everything decoded so far and resets the decoder. */
  end(): string {
    if (this.pending > 0) {
      this.pending = 0;
      this.emitUnit(0xfffd);
    }
    this.flushChunk();
    const text = this.parts.join('');
    this.parts = [];
    return text;
  }

  private start(bits: number, length: number): void {
    this.codepoint = bits;
    this.needed = length;
    this.pending = length - 1;
  }

  private emit(cp: number): void {
    // Reject overlong forms (e.g. 0xC0 0x80) the same way browsers do.
    const minimum = this.needed === 2 ? 0x80 : this.needed === 3 ? 0x800 : 0x10000;
    if (cp < minimum || cp > 0x10ffff) {
      this.emitUnit(0xfffd);
    } else if (cp > 0xffff) {
      const v = cp - 0x10000;
      this.emitUnit(0xd800 | (v >> 10));
      this.emitUnit(0xdc00 | (v & 0x3ff));
    } else {
      // Lone surrogates are passed through on purpose: a CESU-8 pair becomes
      // a valid UTF-16 pair once both halves are appended.
      this.emitUnit(cp);
    }
  }

  private emitUnit(unit: number): void {
    this.chunk.push(unit);
    // fromCharCode(...array) is fast but limited by the argument count.
    if (this.chunk.length >= 8192) this.flushChunk();
  }

  private flushChunk(): void {
    if (this.chunk.length === 0) return;
    this.parts.push(String.fromCharCode(...this.chunk));
    this.chunk = [];
  }
}

export function decodeUtf8(bytes: Uint8Array): string {
  const decoder = new Utf8StreamDecoder();
  decoder.push(bytes);
  return decoder.end();
}
