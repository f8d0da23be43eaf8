/**
 * The one door to the kernel: every mount, namespace, link, firewall rule, device node,
 * xattr, privileged copy, runtime spawn and process-liveness check goes through a `Sys`.
 * `linuxSys` is the real implementation; `FakeSys` (sys/fake.ts) records calls so engine
 * logic can be unit-tested without root.
 */
export interface Sys {
  /** true when a process with this pid exists (EPERM counts as alive; zombies do not). */
  processAlive(pid: number): boolean;
}
