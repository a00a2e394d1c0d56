import type { Socket } from 'node:net';
import { decodeString, encodeInstruction } from './guac-protocol.js';
import { InstructionStream } from './instruction-stream.js';

/** The newest protocol we speak; guacd 1.5+ offers it and we accept nothing older than 1.1. */
export const OUR_VERSION = 'VERSION_1_5_0';
const KNOWN_VERSIONS = ['VERSION_1_0_0', 'VERSION_1_1_0', 'VERSION_1_3_0', 'VERSION_1_5_0'];

export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  constructor(
    message: string,
    /** A Guacamole status code for the browser. */
    readonly status: number,
    /** guacd's own words, when it sent an `error`. */
    readonly upstreamMessage?: string,
  ) {
    super(message);
  }
}

export interface HandshakeRequest {
  protocol: string;
  params: Record<string, string>;
  width: number;
  height: number;
  dpi: number;
  timezone?: string;
  audio: string[];
  video: string[];
  image: string[];
  name?: string;
  timeoutMs: number;
}

export interface HandshakeResult {
  connectionId: string;
  version: string;
  /** Bytes guacd sent after `ready` in the same read; they belong to the browser. */
  leftover: Buffer;
}

function pickVersion(offered: string | undefined): string {
  // A guacd that sends no version is 1.0.0; one newer than us gets our newest.
  if (!offered || !offered.startsWith('VERSION_')) return 'VERSION_1_0_0';
  if (KNOWN_VERSIONS.includes(offered)) return offered;
  return OUR_VERSION;
}

/** Runs select → args → size/audio/video/image/timezone/connect → ready on a connected socket. */
export function guacdHandshake(socket: Socket, req: HandshakeRequest): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    let pending: Buffer = Buffer.alloc(0);
    let stage: 'args' | 'ready' = 'args';
    let version = 'VERSION_1_0_0';
    const timer = setTimeout(() => finish(new HandshakeError('guacd did not complete the handshake in time', 514)), req.timeoutMs);

    const finish = (err: Error | null, result?: HandshakeResult) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (err) reject(err);
      else resolve(result!);
    };
    const onClose = () => finish(new HandshakeError('guacd closed the connection during the handshake', 512));
    const onError = (err: Error) => finish(new HandshakeError(`guacd connection failed: ${err.message}`, 520));

    const stream = new InstructionStream('codepoint', 1 << 16);
    const onData = (chunk: Buffer) => {
      let end: number;
      try {
        end = stream.push(chunk).end;
      } catch (err) {
        return finish(new HandshakeError(`guacd sent malformed data: ${(err as Error).message}`, 512));
      }
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      if (end < 0) {
        if (pending.length > 1 << 20) finish(new HandshakeError('guacd handshake instruction too large', 512));
        return;
      }
      const completeBytes = pending.length - (chunk.length - end);
      let text: string;
      const ends: number[] = [];
      let instructions: string[][];
      try {
        text = pending.toString('utf8', 0, completeBytes);
        instructions = decodeString(text, 'codepoint', ends);
      } catch (err) {
        return finish(new HandshakeError(`guacd sent malformed data: ${(err as Error).message}`, 512));
      }
      for (const [i, ins] of instructions.entries()) {
        const [opcode, ...args] = ins;
        if (opcode === 'error') {
          return finish(new HandshakeError(`guacd refused the connection: ${args[0] ?? ''}`, Number(args[1]) || 512, args[0]));
        }
        if (stage === 'args' && opcode === 'args') {
          version = pickVersion(args[0]);
          const names = args[0]?.startsWith('VERSION_') ? args.slice(1) : args;
          const out = [
            encodeInstruction(['size', String(req.width), String(req.height), String(req.dpi)]),
            encodeInstruction(['audio', ...req.audio]),
            encodeInstruction(['video', ...req.video]),
            encodeInstruction(['image', ...req.image]),
          ];
          if (req.timezone && version !== 'VERSION_1_0_0') out.push(encodeInstruction(['timezone', req.timezone]));
          if (req.name && version === 'VERSION_1_5_0') out.push(encodeInstruction(['name', req.name]));
          const values = names.map((n) => req.params[n] ?? '');
          out.push(encodeInstruction(['connect', ...(args[0]?.startsWith('VERSION_') ? [version] : []), ...values]));
          socket.write(out.join(''));
          stage = 'ready';
        } else if (stage === 'ready' && opcode === 'ready') {
          // what follows `ready` (often a sync in the same read) belongs to the browser
          const consumed = Buffer.byteLength(text.slice(0, ends[i]));
          return finish(null, { connectionId: args[0] ?? '', version, leftover: Buffer.from(pending.subarray(consumed)) });
        } else {
          return finish(new HandshakeError(`guacd sent "${opcode}" during the handshake`, 512));
        }
      }
      pending = Buffer.from(pending.subarray(completeBytes));
    };

    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
    socket.write(encodeInstruction(['select', req.protocol]));
  });
}
