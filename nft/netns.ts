// How every command the agent runs enters a network namespace: `nsenter --net=PATH`, never
// `ip netns exec NAME`. A pod's namespace arrives as a path (CNI_NETNS, often /proc/PID/ns/net or a
// runtime's own directory) that `ip netns exec` cannot enter, and `ip netns exec` also makes a mount
// namespace and remounts /sys on every call, work a command that only needs the network namespace
// should not pay for. It lives in nft/, the lowest layer, so nft/apply.ts and runtime/ share it.

/** The path of a named namespace, as `ip netns add` creates it. */
export function namedNetnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/** `command args…` run in the network namespace at `netnsPath`, as a command and its arguments. */
export function inNetns(netnsPath: string, command: string, args: string[]): [string, string[]] {
  return ["nsenter", [`--net=${netnsPath}`, command, ...args]];
}

/** `command args…` run in the named namespace `netns`, or here when it is undefined. */
export function inNamedNetns(netns: string | undefined, command: string, args: string[]): [string, string[]] {
  return netns ? inNetns(namedNetnsPath(netns), command, args) : [command, args];
}
