import type { MountInfo } from './types.js';

/** Decode the octal escapes (`\040` for space...) of /proc/self/mountinfo. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The lines of a /proc/PID/mountinfo file. */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0) continue;
    out.push({
      mountId: Number(f[0]),
      parentId: Number(f[1]),
      mountPoint: unescapeMountPath(f[4]!),
      options: f[5]!,
      fsType: f[sep + 1]!,
      source: unescapeMountPath(f[sep + 2] ?? ''),
      superOptions: f[sep + 3] ?? '',
    });
  }
  return out;
}
