/**
 * The dependency graph of a plan's components: `dependsOn` edges from a component to what must be
 * recovered before it. Pure code: workflows import it.
 */
export type DependencyMap = ReadonlyMap<string, readonly string[]>;

/**
 * Every distinct cycle, each as a path that returns to its start (`['a', 'b', 'a']`), rotated to
 * begin at its smallest id so the same cycle is reported once. Unknown ids are ignored.
 */
export function findCycles(graph: DependencyMap): string[][] {
  const cycles = new Map<string, string[]>();
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string) => {
    state.set(id, 'visiting');
    stack.push(id);
    for (const dep of graph.get(id) ?? []) {
      if (!graph.has(dep)) continue;
      if (state.get(dep) === 'visiting') {
        const loop = stack.slice(stack.indexOf(dep));
        const start = loop.indexOf([...loop].sort()[0]!);
        const rotated = [...loop.slice(start), ...loop.slice(0, start)];
        cycles.set(rotated.join(' '), [...rotated, rotated[0]!]);
      } else if (!state.has(dep)) {
        visit(dep);
      }
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const id of [...graph.keys()].sort()) if (!state.has(id)) visit(id);
  return [...cycles.values()];
}

/** `ids` plus everything they depend on, transitively, in the order first met. */
export function withDependencies(ids: readonly string[], graph: DependencyMap): string[] {
  const seen = new Set<string>();
  const add = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    for (const dep of graph.get(id) ?? []) add(dep);
  };
  ids.forEach(add);
  return [...seen];
}

/**
 * Topological stages of an acyclic graph: stage 0 depends on nothing, stage n on earlier stages only.
 * `order` sorts the ids inside a stage (deterministic output).
 */
export function topologicalStages(graph: DependencyMap, order: (a: string, b: string) => number): string[][] {
  const remaining = new Map([...graph].map(([id, deps]) => [id, new Set(deps.filter((d) => graph.has(d)))]));
  const stages: string[][] = [];
  while (remaining.size > 0) {
    const ready = [...remaining].filter(([, deps]) => deps.size === 0).map(([id]) => id);
    if (ready.length === 0) throw new Error(`dependency cycle among ${[...remaining.keys()].join(', ')}`);
    ready.sort(order);
    stages.push(ready);
    for (const id of ready) remaining.delete(id);
    for (const deps of remaining.values()) for (const id of ready) deps.delete(id);
  }
  return stages;
}

/**
 * Earliest start and finish of each component when every component starts the moment its
 * dependencies finish, and the critical path: the chain of dependencies that ends last.
 */
export function schedule(
  graph: DependencyMap,
  durationOf: (id: string) => number,
  order: (a: string, b: string) => number,
): { start: Map<string, number>; finish: Map<string, number>; criticalPath: string[]; makespan: number } {
  const start = new Map<string, number>();
  const finish = new Map<string, number>();
  for (const stage of topologicalStages(graph, order)) {
    for (const id of stage) {
      const deps = (graph.get(id) ?? []).filter((d) => graph.has(d));
      const begins = Math.max(0, ...deps.map((d) => finish.get(d)!));
      start.set(id, begins);
      finish.set(id, begins + durationOf(id));
    }
  }
  const latest = (ids: readonly string[]) =>
    [...ids]
      .sort(order)
      .reduce<string | undefined>(
        (best, id) => (best === undefined || finish.get(id)! > finish.get(best)! ? id : best),
        undefined,
      );
  const criticalPath: string[] = [];
  let next = latest([...graph.keys()]);
  while (next !== undefined) {
    const id = next;
    criticalPath.unshift(id);
    next = latest((graph.get(id) ?? []).filter((d) => graph.has(d) && finish.get(d) === start.get(id)));
  }
  const last = criticalPath.at(-1);
  return { start, finish, criticalPath, makespan: last === undefined ? 0 : finish.get(last)! };
}
