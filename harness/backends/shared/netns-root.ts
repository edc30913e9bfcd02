// A root file system of its own for every netns node (host, gateway, internet), made in the
// node's mount namespace before anything of the lab runs in it:
// - `/`: an overlay of the machine's root file system with a throw-away upper layer on a tmpfs
//   of NODE_DISK_MB, so whatever a lab writes (`/etc`, `/tmp`, `/var`, `/usr/local`, a package
//   it installs) stays in that node and is gone with it; filling it fills only that tmpfs.
// - `/root` and `/home`: empty (the machine's keys and histories are not a lab's to read); so are
//   the container engines' state folders where the machine has them.
// - `/dev`: only what labs use (null zero full random urandom tty, ptmx with a devpts instance of
//   its own, net/tun, shm); no block device.
// - `/proc`: the node's PID namespace; `/proc/sys` read-only except `net.*`, which the kernel keeps
//   per network namespace. `/sys`: a sysfs of the node's network namespace, as before.
// - `/run`: a tmpfs of the node (the shell server's and captures' files live there).
// The machine reaches a node's files through `/proc/PID/root/…` of a process inside it.
//
// The nodes of a lab are made by ONE program: Perl (perl-base is on every Debian/Ubuntu machine)
// calling the kernel itself (unshare, mount, mknodat, pivot_root, prctl, setns, rtnetlink) where a
// shell script started about ten util-linux programs per node and `ip` did the wiring, each
// program 2-15 ms of process start and dynamic linking.
import { existsSync, readFileSync } from 'node:fs'
import type { NetlinkRequest } from './netlink.ts'

/** How much a node may write in total (its overlay's upper layer, /root, /home, /tmp…), MiB. */
export const NODE_DISK_MB = Number(process.env.LABPROOF_NETNS_DISK_MB) || 512
const RUN_MB = 128
const SHM_MB = 64
/** Each of the HIDDEN_DIRS is an empty tmpfs of this size. */
const HIDDEN_MB = 64

/** Folders of the machine a node sees empty, where the machine has them. */
export const HIDDEN_DIRS = ['/root', '/home', '/var/lib/docker', '/var/lib/containerd', '/var/lib/libvirt']

/** Folders of the system that some machines mount apart from `/` (a separate /usr or /var):
 *  each gets an overlay of its own, else the node would see the empty folder under the mount. */
const SYSTEM_DIRS = ['/usr', '/var', '/opt', '/etc', '/lib', '/lib64', '/bin', '/sbin', '/srv']

/** The SYSTEM_DIRS this machine mounts apart from `/`. */
export function separateSystemMounts(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const points = new Set(mountinfo.split('\n').map((l) => l.split(' ')[4]).filter(Boolean).map((p) => p!.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))))
  return SYSTEM_DIRS.filter((d) => points.has(d))
}

/** Capabilities no lab needs and a write-up could use on the machine itself: loading kernel
 *  modules, raw I/O and device nodes, rebooting, immutable flags, the kernel log, MAC policy,
 *  audit, process accounting. Dropped from the bounding set of every command run in a node
 *  (by the node's first process for its shell, by setpriv for a shell entering later), with
 *  their numbers in linux/capability.h. */
export const DROPPED_CAPABILITIES: Record<string, number> = {
  linux_immutable: 9, sys_module: 16, sys_rawio: 17, sys_pacct: 20, sys_boot: 22, sys_tty_config: 26, mknod: 27,
  audit_control: 30, mac_override: 32, mac_admin: 33, syslog: 34, wake_alarm: 35, block_suspend: 36,
}

/** `setpriv …` to put in front of a command entering a node, so it runs without them. */
export function dropCapabilities(setpriv = 'setpriv'): string[] {
  return [setpriv, `--bounding-set=${Object.keys(DROPPED_CAPABILITIES).map((c) => `-${c}`).join(',')}`, '--']
}

/** The device nodes made (with the machine's type, numbers, mode and owner) in the node's /dev. */
export const NODE_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'net/tun']
const DEV_LINKS: [string, string][] = [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']]

/** Staging: the node's disk, mounted over the machine's /run in the node's (private) mount
 *  namespace; the new root and its /dev are assembled under it, then the root becomes `/` by
 *  pivot_root. */
const DISK = '/run'
const NEW = `${DISK}/root`

// <linux/mount.h>, <linux/sched.h>, <linux/prctl.h>.
const MS = { RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, REMOUNT: 32, BIND: 4096, REC: 16384, PRIVATE: 1 << 18 }
const CLONE = { NEWNS: 0x20000, NEWUTS: 0x4000000, NEWPID: 0x20000000, NEWNET: 0x40000000 }
const PR_SET_PDEATHSIG = 1
const PR_CAPBSET_DROP = 24
const SIGKILL = 9
const MNT_DETACH = 2
// <sys/socket.h>, <linux/netlink.h>.
const AF_NETLINK = 16
const SOCK_RAW = 3
const NETLINK_ROUTE = 0
const NLMSG_ERROR = 2
const AT_FDCWD = -100

/** The system calls the node's set-up makes, by number: x86_64's table, and the asm-generic one
 *  of the newer architectures. */
const SYSCALLS: Record<string, Record<'unshare' | 'mount' | 'umount2' | 'pivot_root' | 'prctl' | 'mknodat' | 'setns', number>> = {
  x64: { unshare: 272, mount: 165, umount2: 166, pivot_root: 155, prctl: 157, mknodat: 259, setns: 308 },
  arm64: { unshare: 97, mount: 40, umount2: 39, pivot_root: 41, prctl: 167, mknodat: 33, setns: 268 },
  riscv64: { unshare: 97, mount: 40, umount2: 39, pivot_root: 41, prctl: 167, mknodat: 33, setns: 268 },
}

/** Why a node cannot be made on this architecture, or undefined. */
export function architectureProblem(arch: string = process.arch): string | undefined {
  return SYSCALLS[arch] ? undefined : `the netns backend knows the system calls of ${Object.keys(SYSCALLS).join(', ')}, not of ${arch}: choose --backend docker`
}

/** One mount(2) of the node's root, in order: flags are MS_* bits, data the file system's options. */
export interface NodeMount {
  source: string
  target: string
  type: string
  flags: number
  data: string
}

/** The node's mounts once its disk is there: the overlay root, /proc with /proc/sys read-only
 *  except net/, /sys, /dev, /run and the hidden folders. */
export function nodeMounts(hidden: string[], separate: string[]): NodeMount[] {
  const m = (source: string, target: string, type: string, flags: number, data = ''): NodeMount => ({ source, target, type, flags, data })
  const safe = MS.NOSUID | MS.NODEV | MS.NOEXEC
  return [
    m('labproof-root', NEW, 'overlay', 0, `lowerdir=/,upperdir=${DISK}/upper,workdir=${DISK}/work`),
    ...separate.map((d, i) => m('labproof-root', `${NEW}${d}`, 'overlay', 0, `lowerdir=${d},upperdir=${DISK}/upper${i},workdir=${DISK}/work${i}`)),
    m('proc', `${NEW}/proc`, 'proc', safe),
    // /proc/sys read-only, except its net/ directory (per network namespace) made writable on top.
    m(`${NEW}/proc/sys`, `${NEW}/proc/sys`, '', MS.BIND),
    m(`${NEW}/proc/sys/net`, `${NEW}/proc/sys/net`, '', MS.BIND),
    m('', `${NEW}/proc/sys`, '', MS.REMOUNT | MS.BIND | MS.RDONLY | safe),
    m('sysfs', `${NEW}/sys`, 'sysfs', safe),
    m(`${DISK}/dev`, `${NEW}/dev`, '', MS.BIND),
    m('', `${NEW}/dev`, '', MS.REMOUNT | MS.BIND | MS.NOSUID),
    m('devpts', `${NEW}/dev/pts`, 'devpts', MS.NOSUID | MS.NOEXEC, 'newinstance,ptmxmode=0666,mode=0620,gid=5'),
    m('labproof-shm', `${NEW}/dev/shm`, 'tmpfs', MS.NOSUID | MS.NODEV, `mode=1777,size=${SHM_MB}m`),
    m('labproof-run', `${NEW}/run`, 'tmpfs', MS.NOSUID | MS.NODEV, `mode=0755,size=${RUN_MB}m`),
    ...hidden.map((d) => m('labproof-empty', `${NEW}${d}`, 'tmpfs', 0, `mode=${d === '/root' ? '0700' : '0755'},size=${HIDDEN_MB}m`)),
  ]
}

/** One node of a group made together (nodesProgram). */
export interface NodeSpec {
  /** The node's name in the lab (host01, gateway…): what the wiring names it by. */
  name: string
  hostname: string
  /** `net.ipv4.ip_forward` of the node's network namespace (a new one copies the machine's). */
  ipForward?: 0 | 1
}

/** A request sent in node `on`'s network namespace once every node has its own; its PID
 *  patches name nodes (netlink.ts). */
export interface WiringRequest {
  on: string
  request: NetlinkRequest
}

/** What the nodes' processes do besides their roots. */
export interface NodesProgramOptions {
  /** A directory to make in each node's /run (the shell server's). */
  runDir?: string
  /** `sh -c SCRIPT`, started in each node with the dropped capabilities out of its bounding set,
   *  on the node's sockets (shellFds) as standard input and output, once the root is ready. */
  shell?: string
  /** Sent in this order. */
  wiring?: WiringRequest[]
  hidden?: string[]
  separate?: string[]
  arch?: string
}

/** The group's process writes `node NAME PID` for each node (PID 1 of the node, as this machine
 *  sees it), then `ready`, on this descriptor. */
export const REPORT_FD = 3
/** The descriptors of node i's shell: its standard input (requests) and output (answers).
 *  Two, not one socket both ways: a request written as the shell dies fails on the first
 *  alone, while its answers are read to their end from the second. */
export const shellFds = (i: number): [number, number] => [REPORT_FD + 1 + 2 * i, REPORT_FD + 2 + 2 * i]

/** A Perl string literal. */
const perl = (s: string) => `'${s.replace(/[\\']/g, '\\$&')}'`

/**
 * Several nodes made at once by ONE program, `perl -e PROGRAM MARKER PARENT_PID`, spawned with
 * the report descriptor (REPORT_FD) and two sockets per node for its shell (shellFds), so a
 * lab costs its maker one process start, not one per node:
 * - the group's process dies with its parent (PR_SET_PDEATHSIG; PARENT_PID tells whether that
 *   parent died first);
 * - for each node it enters new network, mount, UTS and PID namespaces, forks the node's PID 1
 *   in them, and goes back to its own (setns): one fork per node. PID 1 dies with the group's
 *   process (PR_SET_PDEATHSIG; a pipe tells whether that process died first): when labproof
 *   dies, the kernel kills the group, its nodes and every process in them, and their
 *   namespaces go with them;
 * - PID 1 makes its mounts private (as `unshare` does), builds the root above, names the host,
 *   brings `lo` up, starts the shell on its sockets, says it is ready, and reaps orphans until it
 *   is killed;
 * - meanwhile the group's process sends the wiring, its rtnetlink requests, each in its node's
 *   network namespace, in order. It checks first that no node shares this machine's network
 *   namespace.
 * When every node is ready and the wiring done, it reports on REPORT_FD. Errors go to standard
 * error, naming the node and the step, and end the group. Every value in it is a constant of this
 * file, a folder of the machine or a validated value of the lab, as a Perl string literal.
 */
export function nodesProgram(nodes: NodeSpec[], opts: NodesProgramOptions = {}): string {
  const arch = opts.arch ?? process.arch
  const nr = SYSCALLS[arch]
  if (!nr) throw new Error(architectureProblem(arch))
  const names = new Set(nodes.map((n) => n.name))
  for (const w of opts.wiring ?? []) {
    if (!names.has(w.on)) throw new Error(`${w.request.command} runs on ${w.on}, which is not one of the nodes (${[...names].join(', ')})`)
    for (const p of w.request.patches) if ('netns' in p && !names.has(p.netns)) throw new Error(`${w.request.command} names node ${p.netns}, which is not one of the nodes`)
  }
  const bytes = (b: Buffer) => `pack("H*", '${b.toString('hex')}')`
  return [
    `my @nodes = (${nodes.map((n, i) => `[${perl(n.name)}, ${perl(n.hostname)}, ${n.ipForward ?? 'undef'}, ${shellFds(i).join(', ')}]`).join(', ')});`,
    `my @wiring = (${(opts.wiring ?? []).map(({ on, request: r }) => `\n  [${[perl(on), perl(r.command), bytes(r.message), ...r.patches.map((p) => 'netns' in p ? `[${p.offset}, 'netns', ${perl(p.netns)}]` : `[${p.offset}, 'lookup', ${bytes(p.lookup)}]`)].join(', ')}]`).join(',')});`,
    nodesProgramBody(nr, opts.hidden ?? HIDDEN_DIRS.filter((d) => existsSync(d)), opts.separate ?? separateSystemMounts(), opts),
  ].join('\n')
}

const bodies = new Map<string, string>()

/** The program without its nodes and wiring: the same for every lab of a run, made once. */
function nodesProgramBody(nr: (typeof SYSCALLS)[string], hidden: string[], separate: string[], opts: NodesProgramOptions): string {
  const key = JSON.stringify([nr, hidden, separate, opts.runDir, opts.shell])
  let body = bodies.get(key)
  if (body) return body
  const dirs = [`${DISK}/upper`, `${DISK}/work`, NEW, `${DISK}/dev`, `${DISK}/dev/pts`, `${DISK}/dev/shm`, `${DISK}/dev/net`, ...separate.flatMap((_, i) => [`${DISK}/upper${i}`, `${DISK}/work${i}`])]
  const list = (xs: (string | number)[]) => `(${xs.map((x) => typeof x === 'number' ? String(x) : perl(x)).join(', ')})`
  body = [
    'my ($marker, $parent) = @ARGV;',
    'my $name = "group"; my $group = $$;',
    // syscall() passes a string as a pointer and a number as a number; its arguments are copied
    // first (a literal is read-only to it). 0 stands for NULL.
    'sub call { my ($what, @a) = @_; syscall(shift @a, @a) == -1 and die "labproof node $name: $what: $!\\n" }',
    'sub put { my ($file, $text, $mode) = @_; my $f; open($f, $mode // ">", $file) and print $f $text and close $f or die "labproof node $name: writing $file: $!\\n" }',
    // Closes descriptors perl did not open itself, if they are open.
    'sub close_fd { for my $fd (@_) { my $f; close $f if open($f, "+<&=", $fd) } }',
    `call("dying with labproof", ${nr.prctl}, ${PR_SET_PDEATHSIG}, ${SIGKILL}, 0, 0, 0);`,
    'exit 1 if getppid() != $parent;',
    // This process's own namespaces, to come back to after making each node's.
    `my @home = map { open(my $f, "<", "/proc/self/ns/$_->[0]") or die "labproof: /proc/self/ns/$_->[0]: $!\\n"; [$f, $_->[1]] } (['net', ${CLONE.NEWNET}], ['mnt', ${CLONE.NEWNS}], ['uts', ${CLONE.NEWUTS}], ['pid', ${CLONE.NEWPID}]);`,
    'my $machine = (stat $home[0][0])[1];',
    // First each node's network namespace, with a descriptor of it and a netlink socket in it
    // (a socket stays in the namespace it was made in), so the wiring can start at once.
    'my (%netns, %socket, %pid, %pipe, @inherited);',
    'for my $n (@nodes) {',
    '  $name = $n->[0];',
    `  call("unshare", ${nr.unshare}, ${CLONE.NEWNET});`,
    '  open($netns{$name}, "<", "/proc/self/ns/net") or die "labproof node $name: its network namespace: $!\\n";',
    // A node whose network namespace were this machine's would be wired to the machine itself.
    '  die "labproof node $name: its network namespace is not its own\\n" if (stat $netns{$name})[1] == $machine;',
    `  socket($socket{$name}, ${AF_NETLINK}, ${SOCK_RAW}, ${NETLINK_ROUTE}) or die "labproof node $name: a netlink socket: $!\\n";`,
    `  call("going back to its own network namespace", ${nr.setns}, fileno($home[0][0]), ${CLONE.NEWNET});`,
    '}',
    '$name = "group";',
    'if (@wiring) { $pipe{"(wiring)"} = wire(); push @inherited, $pipe{"(wiring)"} }',
    // Then each node's PID 1, forked in its network namespace and new mount, UTS and PID ones.
    'for my $n (@nodes) {',
    '  pipe(my $from, my $to) and pipe(my $alive, my $keep) or die "labproof: pipe: $!\\n";',
    '  $name = $n->[0];',
    `  call("entering its network namespace", ${nr.setns}, fileno($netns{$name}), ${CLONE.NEWNET});`,
    `  call("unshare", ${nr.unshare}, ${CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWPID});`,
    '  my $pid = fork() // die "labproof node $name: fork: $!\\n";',
    '  if (!$pid) { close $_ for $from, $keep, @inherited, values %socket, values %netns; node($to, $alive, @$n) }',
    `  call("going back to its own namespaces", ${nr.setns}, fileno($_->[0]), $_->[1]) for @home;`,
    '  close $to; close $alive; push @inherited, $from, $keep; $pid{$n->[0]} = $pid; $pipe{$n->[0]} = $from;',
    '}',
    '$name = "group";',
    // The sockets are the nodes' shells': only each node holds its own.
    'close_fd(@$_[3, 4]) for @nodes;',
    'my %said = map { ($_ => "") } keys %pipe;',
    'my %ready;',
    'while (keys %ready < keys %pipe) {',
    '  my $wait = ""; vec($wait, fileno($pipe{$_}), 1) = 1 for grep { !$ready{$_} } keys %pipe;',
    '  select($wait, undef, undef, undef) > 0 or next;',
    '  for my $n (grep { !$ready{$_} && vec($wait, fileno($pipe{$_}), 1) } keys %pipe) {',
    '    sysread($pipe{$n}, my $chunk, 256) or die($n eq "(wiring)" ? "labproof: the wiring failed\\n" : "labproof node $n: it exited before it was ready\\n");',
    '    $ready{$n} = 1 if ($said{$n} .= $chunk) =~ /^ready$/m;',
    '  }',
    '}',
    `open(my $report, ">&=", ${REPORT_FD}) or die "labproof: fd ${REPORT_FD}: $!\\n";`,
    'print $report map({ "node $_->[0] $pid{$_->[0]}\\n" } @nodes), "ready\\n"; close $report;',
    '1 while wait() != -1;',
    'exit 0;',
    '',
    // The wiring, in a process of its own while the nodes are made: every request in order on
    // its node's socket, each answered before the next. Returns the pipe it says `ready` on.
    'sub wire {',
    '  pipe(my $from, my $to) or die "labproof: pipe: $!\\n";',
    '  my $pid = fork() // die "labproof: fork: $!\\n";',
    '  if ($pid) { close $to; return $from }',
    '  close $from; $name = "wiring";',
    `  call("dying with its group", ${nr.prctl}, ${PR_SET_PDEATHSIG}, ${SIGKILL}, 0, 0, 0);`,
    '  exit 1 if getppid() != $group;',
    '  for my $w (@wiring) {',
    '    my ($on, $command, $message, @patches) = @$w;',
    '    for my $p (@patches) {',
    '      my ($at, $kind, $what) = @$p;',
    '      substr($message, $at, 4) = pack("L", $kind eq "netns" ? fileno($netns{$what}) : ask($socket{$on}, $what, $on, $command));',
    '    }',
    '    ask($socket{$on}, $message, $on, $command);',
    '  }',
    '  print $to "ready\\n"; exit 0;',
    '}',
    // Sends a request and reads the kernel's answer: an acknowledgement (0), an error (the
    // command and the errno's text), or the link asked for (its index).
    'sub ask {',
    '  my ($socket, $message, $on, $command) = @_;',
    '  send($socket, $message, 0) or die "labproof node $on: $command: sending it: $!\\n";',
    '  defined(recv($socket, my $answer, 65536, 0)) or die "labproof node $on: $command: its answer: $!\\n";',
    `  my ($type, $error) = unpack("x4 S x10 l", $answer);`,
    `  if ($type == ${NLMSG_ERROR}) { return 0 if !$error; $! = -$error; die "labproof node $on: $command: $!\\n" }`,
    '  return unpack("x20 l", $answer);',
    '}',
    '',
    // A node's PID 1: its root and shell. Never returns.
    'sub node {',
    '  my ($to, $alive, $n, $host, $forward, $in, $out) = @_; $name = $n;',
    `  close_fd(@$_[3, 4]) for grep { $_->[3] != $in } @nodes; close_fd(${REPORT_FD}); close $_->[0] for @home;`,
    `  call("dying with its group", ${nr.prctl}, ${PR_SET_PDEATHSIG}, ${SIGKILL}, 0, 0, 0);`,
    // The pipe's other end is the group's: readable (at its end) if the group died first.
    '  my $gone = ""; vec($gone, fileno($alive), 1) = 1; exit 1 if select($gone, undef, undef, 0); close $alive;',
    `  call("private mounts", ${nr.mount}, 0, "/", 0, ${MS.REC | MS.PRIVATE}, 0);`,
    '  umask 0;',
    `  call("mounting its disk on ${DISK}", ${nr.mount}, "labproof-disk", "${DISK}", "tmpfs", 0, "mode=0755,size=${NODE_DISK_MB}m");`,
    `  for my $d ${list(dirs)} { mkdir($d, 0755) or die "labproof node $name: mkdir $d: $!\\n" }`,
    // Each device as the machine has it (type, numbers, mode, owner); a link stays a link.
    `  for my $d ${list(NODE_DEVICES)} {`,
    `    my ($from, $to) = ("/dev/$d", "${DISK}/dev/$d");`,
    '    if (-l $from) { symlink(readlink($from), $to) or die "labproof node $name: link $to: $!\\n"; next }',
    '    my @s = stat($from) or die "labproof node $name: $from: $!\\n";',
    `    call("mknod $to", ${nr.mknodat}, ${AT_FDCWD}, $to, $s[2], $s[6]);`,
    '    chown($s[4], $s[5], $to) or die "labproof node $name: chown $to: $!\\n";',
    '  }',
    `  for my $l (${DEV_LINKS.map(([n, to]) => `[${perl(n)}, ${perl(to)}]`).join(', ')}) { symlink($l->[1], "${DISK}/dev/$l->[0]") or die "labproof node $name: link /dev/$l->[0]: $!\\n" }`,
    '  umask 022;',
    ...nodeMounts(hidden, separate).map((m) => `  call(${perl(`mount ${m.target}${m.type ? ` (${m.type})` : ''}`)}, ${nr.mount}, ${m.source ? perl(m.source) : 0}, ${perl(m.target)}, ${m.type ? perl(m.type) : 0}, ${m.flags}, ${m.data ? perl(m.data) : 0});`),
    `  chdir(${perl(NEW)}) or die "labproof node $name: chdir: $!\\n";`,
    // The node's UTS namespace is its own: what `hostname NAME` does.
    '  put("/proc/sys/kernel/hostname", $host);',
    // A real host names itself in /etc/hostname and resolves its own name from /etc/hosts
    // (Debian writes `127.0.1.1 NAME`); without it, sudo asks DNS, whose queries die at the
    // gateway: 10 s per sudo. Both are this node's own files now.
    '  put("etc/hostname", "$host\\n");',
    '  put("etc/hosts", "\\n127.0.1.1\\t$host\\n", ">>");',
    // `pivot_root . .` then detaching `.`: the machine's tree is no longer reachable from here.
    `  call("pivot_root", ${nr.pivot_root}, ".", ".");`,
    `  call("detaching the machine's tree", ${nr.umount2}, ".", ${MNT_DETACH});`,
    '  chdir("/") or die;',
    // `ip link set lo up`, through the node's sysfs: IFF_UP | IFF_LOOPBACK.
    '  put("/sys/class/net/lo/flags", "0x9");',
    '  put("/proc/sys/net/ipv4/ip_forward", "$forward\\n") if defined $forward;',
    ...(opts.runDir ? [`  mkdir(${perl(opts.runDir)}, 0755) or die "labproof node $name: mkdir ${opts.runDir}: $!\\n";`] : []),
    ...(opts.shell ? [
      '  my $shell = fork() // die "labproof node $name: fork: $!\\n";',
      '  if (!$shell) {',
      `    call("dropping capability $_", ${nr.prctl}, ${PR_CAPBSET_DROP}, $_, 0, 0, 0) for ${list(Object.values(DROPPED_CAPABILITIES))};`,
      '    open(my $i, "<&=", $in) and open(my $o, ">&=", $out) or die "labproof node $name: the descriptors of its shell: $!\\n";',
      '    open(STDIN, "<&", $i) and open(STDOUT, ">&", $o) and close $i and close $o or die "labproof node $name: the descriptors of its shell: $!\\n";',
      `    exec("/bin/sh", "-c", ${perl(opts.shell)}) or die "labproof node $name: /bin/sh: $!\\n";`,
      '  }',
    ] : []),
    // Only the shell holds the node's sockets: they close when the shell exits.
    '  close_fd($in, $out);',
    '  syswrite($to, "ready\\n"); close $to;',
    '  while (1) { sleep 1 if wait() == -1 }',
    '}',
  ].join('\n')
  bodies.set(key, body)
  return body
}
