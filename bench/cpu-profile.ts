// Summarises a V8 .cpuprofile (as written by `node --cpu-prof`): self time by function and by package, so that a
// benchmark can say where a process spent its CPU without opening DevTools.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: an npm package, node's internals, the app bundle, or V8 itself. */
function owner(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/dist/apps/')) return 'app (dist bundle)';
  return url.replace(/^file:\/\//, '');
}

/** A frame of JavaScript we can blame: in a package or the app, not native code or node's internals. */
function blameable(frame: ProfileNode['callFrame']): boolean {
  return frame.url !== '' && !frame.url.startsWith('node:');
}

function label(frame: ProfileNode['callFrame']): string {
  const where = owner(frame.url, frame.functionName);
  return `${frame.functionName || '(anonymous)'}  ${where}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
}

function share(us: number, total: number): string {
  return `${((100 * us) / Math.max(1, total)).toFixed(1).padStart(5)} %`;
}

/** The top `limit` functions and packages by self time, as report lines (idle time left out of the total). */
export function summarizeCpuProfile(file: string, limit = 15): string[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  /** The nearest blameable frame at or above a node (native and internal time charged to its JS caller). */
  const caller = (id: number): ProfileNode['callFrame'] | undefined => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = (byId.get(at) as ProfileNode).callFrame;
      if (blameable(frame)) return frame;
    }
    return undefined;
  };
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  const callers = new Map<string, number>();
  const callerPackages = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    if (frame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const where = owner(frame.url, frame.functionName);
    functions.set(label(frame), (functions.get(label(frame)) ?? 0) + us);
    packages.set(where, (packages.get(where) ?? 0) + us);
    const js = frame.functionName.startsWith('(') ? frame : (caller(id) ?? frame);
    const jsWhere = owner(js.url, js.functionName);
    callers.set(label(js), (callers.get(label(js)) ?? 0) + us);
    callerPackages.set(jsWhere, (callerPackages.get(jsWhere) ?? 0) + us);
  }
  const top = (m: Map<string, number>, n: number): Array<[string, number]> =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  return [
    `busy ${(total / 1e6).toFixed(1)} s, idle ${(idle / 1e6).toFixed(1)} s; self time by package:`,
    ...top(packages, 10).map(([name, us]) => `  ${share(us, total)}  ${name}`),
    `self time by function (top ${limit}):`,
    ...top(functions, limit).map(([name, us]) => `  ${share(us, total)}  ${name}`),
    'the same with native and node-internal time charged to the nearest package/app caller, by package:',
    ...top(callerPackages, 10).map(([name, us]) => `  ${share(us, total)}  ${name}`),
    `and by calling function (top ${limit}):`,
    ...top(callers, limit).map(([name, us]) => `  ${share(us, total)}  ${name}`),
  ];
}
