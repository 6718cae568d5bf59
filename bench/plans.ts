/**
 * Generated plans for the benchmarks: shapes whose ideal timing is known in advance, so that what
 * the engine adds to it can be measured.
 */
import { testPlan } from '../test/helpers/engine';

export interface DagComponent {
  id: string;
  /** Seconds the step's own work takes (`sleep`). */
  seconds: number;
  dependsOn: string[];
}

/**
 * A DAG of `layers × width` components: each depends on one or two of the layer before and, every
 * other one, on one two layers back (cross edges), so branches start as soon as their own
 * dependencies finish. Durations cycle through `durations`: deterministic, so every run and the
 * sequential baseline run the same work.
 */
export function generateDag(layers = 8, width = 5, durations = [0.3, 0.5, 0.8]): DagComponent[] {
  const id = (layer: number, i: number) => `l${layer}-c${i}`;
  const components: DagComponent[] = [];
  for (let layer = 0; layer < layers; layer++) {
    for (let i = 0; i < width; i++) {
      const dependsOn = new Set<string>();
      if (layer > 0) {
        dependsOn.add(id(layer - 1, i));
        if ((i + layer) % 2 === 0) dependsOn.add(id(layer - 1, (i + 1) % width));
      }
      if (layer > 1 && i % 2 === 1) dependsOn.add(id(layer - 2, (i + 2) % width));
      components.push({
        id: id(layer, i),
        seconds: durations[(layer * width + i * 7) % durations.length]!,
        dependsOn: [...dependsOn],
      });
    }
  }
  return components;
}

/** The longest path of the DAG, in seconds of the components' own work: no engine can finish sooner. */
export function criticalPathSeconds(components: DagComponent[]): { seconds: number; path: string[] } {
  const byId = new Map(components.map((c) => [c.id, c]));
  const finish = new Map<string, { seconds: number; path: string[] }>();
  const visit = (id: string): { seconds: number; path: string[] } => {
    const known = finish.get(id);
    if (known) return known;
    const c = byId.get(id)!;
    const before = c.dependsOn.map(visit).reduce((a, b) => (b.seconds > a.seconds ? b : a), { seconds: 0, path: [] });
    const result = { seconds: before.seconds + c.seconds, path: [...before.path, id] };
    finish.set(id, result);
    return result;
  };
  return components.map((c) => visit(c.id)).reduce((a, b) => (b.seconds > a.seconds ? b : a));
}

/** The shell command of a component: its fixed work. */
export const sleepCommand = (c: DagComponent) => `sleep ${c.seconds}`;

/** The DAG as a plan of `command` components (the real runCommand activity runs each). */
export function dagPlan(components: DagComponent[], name = 'bench-dag', rto = '4h'): Record<string, unknown> {
  const plan = {
    ...testPlan(
      components.map((c) => ({
        id: c.id,
        kind: 'command',
        run: sleepCommand(c),
        estimate: `${Math.max(1, Math.ceil(c.seconds))}s`,
        dependsOn: c.dependsOn,
      })),
    ),
    name,
  };
  return { ...plan, objectives: { rpo: '1h', rto } };
}
