import { request } from 'node:http';

/** Talks to a running gateway's admin socket; `undefined` when no gateway is listening there. */
export function adminRequest<T>(socketPath: string, method: 'GET' | 'POST', path: string): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if ((res.statusCode ?? 500) >= 400) return reject(new Error(`gateway admin socket answered ${res.statusCode}: ${body.slice(0, 300)}`));
        try {
          resolve(JSON.parse(body) as T);
        } catch {
          reject(new Error('gateway admin socket sent something that is not JSON'));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('gateway admin socket did not answer within 5 s')));
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? resolve(undefined) : reject(err)));
    req.end();
  });
}
