/** Scenario analysis: stages, critical path, RTO and RPO verdicts; property tests on generated DAGs. */
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeScenario, scenariosOf } from '../plan/analysis';
import { findCycles, schedule, topologicalStages, withDependencies } from '../plan/graph';
import { loadPlan } from '../plan/load';
import { loadPlanFile } from '../plan/load-file';
import type { RecoveryPlan } from '../plan/schema/plan';

/** A random DAG: node i may depend only on nodes < i, so it is acyclic by construction. */
const dag = fc
  .integer({ min: 1, max: 25 })
  .chain((n) =>
    fc.tuple(
      fc.tuple(...Array.from({ length: n }, (_, i) => fc.subarray(Array.from({ length: i }, (_, j) => `n${j}`)))),
      fc.tuple(...Array.from({ length: n }, () => fc.integer({ min: 1, max: 240 }))),
    ),
  )
  .map(([deps, durations]) => ({
    graph: new Map(deps.map((d, i) => [`n${i}`, d] as [string, string[]])),
    duration: new Map(durations.map((d, i) => [`n${i}`, d])),
  }));

const byId = (a: string, b: string) => a.localeCompare(b);

/** Longest path ending at each node, by brute-force recursion: the reference for the critical path. */
function longestFinish(graph: Map<string, string[]>, duration: Map<string, number>): number {
  const memo = new Map<string, number>();
  const finish = (id: string): number => {
    if (!memo.has(id)) memo.set(id, Math.max(0, ...graph.get(id)!.map(finish)) + duration.get(id)!);
    return memo.get(id)!;
  };
  return Math.max(...[...graph.keys()].map(finish));
}

describe('dependency graph', () => {
  it('puts every component after all of its dependencies, each exactly once, as early as it can', () => {
    fc.assert(
      fc.property(dag, ({ graph }) => {
        const stages = topologicalStages(graph, byId);
        const stageOf = new Map(stages.flatMap((ids, s) => ids.map((id) => [id, s] as const)));
        assert.equal(stageOf.size, graph.size);
        assert.equal(stages.flat().length, graph.size);
        for (const [id, deps] of graph) {
          for (const dep of deps) assert.ok(stageOf.get(dep)! < stageOf.get(id)!, `${dep} before ${id}`);
          const stage = stageOf.get(id)!;
          if (stage > 0)
            assert.ok(
              deps.some((d) => stageOf.get(d) === stage - 1),
              `${id} could start earlier`,
            );
          else assert.equal(deps.length, 0);
        }
      }),
    );
  });

  it('finds the critical path: a chain of dependencies whose estimates add up to the longest finish', () => {
    fc.assert(
      fc.property(dag, ({ graph, duration }) => {
        const { criticalPath, makespan } = schedule(graph, (id) => duration.get(id)!, byId);
        assert.equal(makespan, longestFinish(graph, duration));
        assert.equal(
          criticalPath.reduce((sum, id) => sum + duration.get(id)!, 0),
          makespan,
        );
        for (let i = 1; i < criticalPath.length; i++) {
          assert.ok(graph.get(criticalPath[i]!)!.includes(criticalPath[i - 1]!), 'each step waits for the one before');
        }
        assert.equal(graph.get(criticalPath[0]!)!.length, 0, 'the path starts at a component that waits for nothing');
      }),
    );
  });

  it('reports each cycle once, from its smallest id', () => {
    const graph = new Map([
      ['c', ['a']],
      ['a', ['b']],
      ['b', ['c']],
      ['d', ['d2']],
      ['d2', ['d']],
      ['e', []],
    ]);
    assert.deepEqual(findCycles(graph), [
      ['a', 'b', 'c', 'a'],
      ['d', 'd2', 'd'],
    ]);
    fc.assert(fc.property(dag, ({ graph: acyclic }) => assert.deepEqual(findCycles(acyclic), [])));
  });

  it('pulls in dependencies transitively', () => {
    const graph = new Map([
      ['app', ['db', 'cache']],
      ['db', ['net']],
      ['cache', []],
      ['net', []],
      ['other', []],
    ]);
    assert.deepEqual(withDependencies(['app'], graph).sort(), ['app', 'cache', 'db', 'net']);
  });
});

describe('scenario analysis', () => {
  async function example(name: string): Promise<RecoveryPlan> {
    const { plan } = await loadPlanFile(`examples/${name}.yaml`);
    return plan!;
  }

  it('flags the Agama plan: 24h of worst-case data loss against a 1h RPO', async () => {
    const analysis = analyzeScenario(await example('agama'), 'full-restore');
    const mysql = analysis.rpo.find((r) => r.component === 'agama-mysql')!;
    assert.deepEqual(
      { ...mysql, reason: undefined },
      { component: 'agama-mysql', objectiveMinutes: 60, worstCaseMinutes: 1440, compliant: false, reason: undefined },
    );
    assert.match(mysql.reason, /leave up to 24h of data loss .*; objective 1h; ship binlogs every ≤1h to meet it$/);
    assert.deepEqual(
      analysis.rpo.find((r) => r.component === 'agama-ansible'),
      {
        component: 'agama-ansible',
        objectiveMinutes: 60,
        worstCaseMinutes: null,
        compliant: false,
        reason: 'no backup schedules: there is nothing to restore from; add backup.schedules (objective 1h)',
      },
    );
    assert.deepEqual(analysis.stages, [
      ['agama-ansible', 'agama-influxdb', 'agama-mysql'],
      ['agama-app'],
      ['agama-health'],
    ]);
    assert.deepEqual(analysis.criticalPath, ['agama-mysql', 'agama-app', 'agama-health']);
    assert.equal(analysis.estimatedRtoMinutes, 90 + 20 + 2);
    assert.equal(analysis.rtoMinutes, 240);
    assert.equal(analysis.rtoMet, true);
  });

  it('finds the compliant Agama variant compliant', async () => {
    const analysis = analyzeScenario(await example('agama-compliant'), 'full-restore');
    assert.deepEqual(
      analysis.rpo.map((r) => [r.component, r.worstCaseMinutes, r.compliant]),
      [
        ['agama-ansible', 60, true],
        ['agama-influxdb', 60, true],
        ['agama-mysql', 15, true],
      ],
    );
  });

  it('pulls in and reports what a scenario depends on; orders by layer inside a stage', async () => {
    const analysis = analyzeScenario(await example('aws-region-failover'), 'region-failover');
    assert.deepEqual(analysis.pulledIn, [
      'assets-bucket',
      'cache',
      'network-us-west-2',
      'orders-api',
      'orders-db',
      'sessions-table',
      'shop-health',
      'web',
    ]);
    assert.deepEqual(
      analysis.stages[0],
      ['network-us-west-2', 'assets-bucket', 'sessions-table'],
      'infrastructure before data',
    );
    assert.deepEqual(analysis.criticalPath, [
      'network-us-west-2',
      'orders-db',
      'orders-api',
      'web',
      'shop-health',
      'dns-failover',
    ]);
    assert.equal(analysis.estimatedRtoMinutes, 25 + 60 + 15 + 15 + 2 + 10);
  });

  it('judges the RTO against the plan objective and each component against its own', () => {
    const { plan } = loadPlan(
      [
        'name: slow',
        'objectives: { rto: 2h }',
        'components:',
        '  - { id: db, kind: command, run: restore-db, estimate: 90m, objectives: { rto: 1h } }',
        '  - { id: app, kind: command, run: deploy, estimate: 45m, dependsOn: [db] }',
      ].join('\n'),
    );
    const analysis = analyzeScenario(plan!, 'full-restore');
    assert.equal(analysis.estimatedRtoMinutes, 135);
    assert.equal(analysis.rtoMet, false);
    assert.deepEqual(
      analysis.timeline.map((t) => [t.component, t.startMinute, t.finishMinute, t.rtoMet]),
      [
        ['db', 0, 90, false],
        ['app', 90, 135, false],
      ],
    );
    assert.deepEqual(
      scenariosOf(plan!).map((s) => s.name),
      ['full-restore'],
      'a plan without scenarios has one of everything',
    );
    assert.throws(
      () => analyzeScenario(plan!, 'partial'),
      /plan "slow" has no scenario "partial"; its scenarios: full-restore/,
    );
  });
});
