import { spawn, spawnSync } from 'node:child_process';

/**
 * The TCP sockets another process holds, each with its TCP_NODELAY flag, read from outside the
 * process: Node has no getter for the flag, and Nagle's delay on loopback is too erratic to assert
 * by timing. Python duplicates each socket out of the process with pidfd_getfd(2) (Linux ≥ 5.6;
 * needs the right to ptrace it, which root has) and asks the kernel; /proc/PID/net/tcp{,6}, which
 * is the table of the process's own network namespace, gives each socket's addresses and state.
 */
export interface TcpSocket {
  /** address:port; IPv6 in brackets, IPv4-mapped IPv6 as plain IPv4 */
  local: string;
  remote: string;
  /** The kernel's name for the TCP state: ESTABLISHED, LISTEN, … */
  state: string;
  noDelay: boolean;
}

const SCRIPT = String.raw`
import ctypes, errno, ipaddress, json, os, socket, struct, sys
mode, pid = sys.argv[1], int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
# the asm-generic numbers, which x86-64 and arm64 share
SYS_pidfd_open, SYS_pidfd_getfd = 434, 438
pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
if pidfd < 0:
    sys.exit('pidfd_open(%d): %s' % (pid, os.strerror(ctypes.get_errno())))
def grab(fd):
    mine = libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
    if mine < 0:
        err = ctypes.get_errno()
        # closed between listing and copying: the socket is gone, which is no error
        if err == errno.EBADF:
            return None
        sys.exit('pidfd_getfd(%d, %d): %s' % (pid, fd, os.strerror(err)))
    return mine
if mode == 'probe':
    # what the tests need: a copy of a descriptor out of a process that is not our parent
    mine = grab(0)
    if mine is None:
        sys.exit('pidfd_getfd(%d, 0): no such descriptor' % pid)
    os.close(mine)
    sys.exit(0)
STATES = {'01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN', '0B': 'CLOSING'}
def addr(text):
    host, port = text.split(':')
    # the kernel prints each 32-bit word of the address in the machine's byte order
    raw = b''.join(struct.pack('=I', int(host[i:i + 8], 16)) for i in range(0, len(host), 8))
    ip = ipaddress.ip_address(raw)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ('[%s]' % ip if ip.version == 6 else str(ip)) + ':' + str(int(port, 16))
table = {}
for name in ('tcp', 'tcp6'):
    try:
        with open('/proc/%d/net/%s' % (pid, name)) as f:
            next(f)
            for line in f:
                p = line.split()
                table[int(p[9])] = (addr(p[1]), addr(p[2]), STATES.get(p[3], p[3]))
    except FileNotFoundError:
        pass
out = []
for fd in sorted(os.listdir('/proc/%d/fd' % pid), key=int):
    try:
        link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
    except OSError:
        continue
    inode = int(link[8:-1]) if link.startswith('socket:[') else None
    if inode not in table:
        continue
    mine = grab(int(fd))
    if mine is None:
        continue
    try:
        # the number may have been reused for another socket since it was listed
        if os.fstat(mine).st_ino != inode:
            continue
        s = socket.socket(fileno=os.dup(mine))
        try:
            nodelay = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            s.close()
    finally:
        os.close(mine)
    local, remote, state = table[inode]
    out.append({'local': local, 'remote': remote, 'state': state, 'noDelay': nodelay})
print(json.dumps(out))
`;

function python(args: string[]) {
  return spawnSync('python3', ['-c', SCRIPT, ...args], { encoding: 'utf8' });
}

/**
 * Why the sockets of another process cannot be read here, or undefined when they can. Probed the
 * way the tests use it: on a sibling process (Yama's ptrace_scope=1 and seccomp profiles allow a
 * process's own children and refuse its siblings).
 */
export function tcpSocketsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux (pidfd_getfd)';
  const sibling = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    if (!sibling.pid) return 'cannot start a process to probe';
    const r = python(['probe', String(sibling.pid)]);
    if (r.error) return `python3 not found (apt-get install python3): ${r.error.message}`;
    if (r.status !== 0) return r.stderr.trim().split('\n').pop() || `python3 exited ${r.status ?? r.signal}`;
    return undefined;
  } finally {
    sibling.kill('SIGKILL');
  }
}

export function tcpSocketsOf(pid: number): TcpSocket[] {
  const r = python(['list', String(pid)]);
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`reading the sockets of process ${pid}: ${r.stderr.trim() || `python3 exited ${r.status ?? r.signal}`}`);
  return JSON.parse(r.stdout) as TcpSocket[];
}
