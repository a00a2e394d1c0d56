import { spawnSync } from 'node:child_process';

/**
 * The TCP sockets another process holds, each with its TCP_NODELAY flag, read from outside the
 * process: Node has no getter for the flag, and Nagle's delay on loopback is too erratic to assert
 * by timing. Python duplicates each socket out of the process with pidfd_getfd(2) (Linux ≥ 5.6;
 * needs the right to ptrace it, which root has) and asks the kernel; /proc/PID/net/tcp{,6}, which
 * is the table of the process's own network namespace, gives each socket's addresses and state.
 */
export interface TcpSocket {
  local: string;
  remote: string;
  /** The kernel's name for the TCP state: ESTABLISHED, LISTEN, … */
  state: string;
  noDelay: boolean;
}

const SCRIPT = String.raw`
import ctypes, json, os, socket, sys
pid = int(sys.argv[1])
STATES = {'01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN', '0B': 'CLOSING'}
def addr(hexaddr):
    host, port = hexaddr.split(':')
    raw = bytes.fromhex(host)
    # the kernel prints each 32-bit word in host (little-endian) order
    raw = b''.join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)
    return ('[%s]' % ip if ':' in ip else ip) + ':' + str(int(port, 16))
table = {}
for name in ('tcp', 'tcp6'):
    try:
        with open('/proc/%d/net/%s' % (pid, name)) as f:
            next(f)
            for line in f:
                p = line.split()
                table[p[9]] = (addr(p[1]), addr(p[2]), STATES.get(p[3], p[3]))
    except FileNotFoundError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
# pidfd_open and pidfd_getfd have the same numbers on every architecture
pidfd = libc.syscall(434, pid, 0)
if pidfd < 0:
    sys.exit('pidfd_open(%d): %s' % (pid, os.strerror(ctypes.get_errno())))
out = []
for fd in sorted(os.listdir('/proc/%d/fd' % pid), key=int):
    try:
        link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
    except OSError:
        continue
    inode = link[8:-1] if link.startswith('socket:[') else None
    if inode not in table:
        continue
    mine = libc.syscall(438, pidfd, int(fd), 0)
    if mine < 0:
        sys.exit('pidfd_getfd(%d, %s): %s' % (pid, fd, os.strerror(ctypes.get_errno())))
    s = socket.socket(fileno=mine)
    try:
        nodelay = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        s.close()
    local, remote, state = table[inode]
    out.append({'local': local, 'remote': remote, 'state': state, 'noDelay': nodelay})
print(json.dumps(out))
`;

/** Why the sockets of another process cannot be read here, or undefined when they can. */
export function tcpSocketsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux (pidfd_getfd)';
  const r = spawnSync('python3', ['-c', SCRIPT, String(process.pid)], { encoding: 'utf8' });
  if (r.error) return `python3 not found (apt-get install python3): ${r.error.message}`;
  if (r.status !== 0) return r.stderr.trim().split('\n').pop();
  return undefined;
}

export function tcpSocketsOf(pid: number): TcpSocket[] {
  const r = spawnSync('python3', ['-c', SCRIPT, String(pid)], { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`reading the sockets of process ${pid}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as TcpSocket[];
}
