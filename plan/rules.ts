import { parseDuration } from './duration';
import { findCycles } from './graph';
import type { Finding } from './issues';
import { KIND_NAMES, kindOf, type Component } from './kinds';
import { PLAN_DEFAULT_OBJECTIVES } from './schema/plan';

/** A component as written, before validation: rules must not trust any field. */
interface LooseComponent {
  index: number;
  id: string | undefined;
  kind: string | undefined;
  dependsOn: unknown[];
  fields: Record<string, unknown>;
}

/** What every rule sees: the raw plan, with its components read loosely. */
export interface RuleInput {
  raw: Record<string, unknown>;
  components: LooseComponent[];
}

/** A named check of a plan. Rules run even when the schema found errors, so every problem shows at once. */
export interface PlanRule {
  name: string;
  check(input: RuleInput): Finding[];
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const record = (value: unknown): Record<string, unknown> =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export function looseComponents(raw: Record<string, unknown>): LooseComponent[] {
  return list(raw.components).map((value, index) => {
    const fields = record(value);
    return { index, id: text(fields.id), kind: text(fields.kind), dependsOn: list(fields.dependsOn), fields };
  });
}

const ids = (input: RuleInput) => new Set(input.components.flatMap((c) => (c.id ? [c.id] : [])));
const suggestIds = (input: RuleInput) => [...ids(input)].sort().join(', ');

function isStatefulLoose(component: LooseComponent): boolean {
  if (!component.kind || !KIND_NAMES.includes(component.kind as Component['kind'])) return false;
  const { stateful } = kindOf({ kind: component.kind } as Component);
  return typeof stateful === 'function' ? component.fields.stateful === true : stateful;
}

export const RULES: PlanRule[] = [
  {
    // `start` is the gate a recovery started by an alarm with requireApproval waits at.
    name: 'reserved-component-ids',
    check: (input) =>
      input.components
        .filter((c) => c.id === 'start')
        .map((c) => ({
          severity: 'error',
          path: ['components', c.index, 'id'],
          message: '"start" is reserved for the start gate of held recoveries: name the component otherwise',
        })),
  },
  {
    name: 'unique-component-ids',
    check: (input) => {
      const first = new Map<string, number>();
      return input.components.flatMap((c): Finding[] => {
        if (!c.id) return [];
        if (!first.has(c.id)) {
          first.set(c.id, c.index);
          return [];
        }
        return [
          {
            severity: 'error',
            path: ['components', c.index, 'id'],
            message: `duplicate component id "${c.id}" (also components[${first.get(c.id)}]): give each component its own id`,
          },
        ];
      });
    },
  },
  {
    name: 'known-dependencies',
    check: (input) =>
      input.components.flatMap((c) =>
        c.dependsOn.flatMap((dep, i): Finding[] => {
          const path = ['components', c.index, 'dependsOn', i];
          if (typeof dep !== 'string') return [];
          if (dep === c.id)
            return [
              { severity: 'error', path, message: `"${dep}" depends on itself: remove it from its own dependsOn` },
            ];
          if (ids(input).has(dep)) return [];
          return [
            {
              severity: 'error',
              path,
              message: `unknown component "${dep}" in dependsOn: use one of ${suggestIds(input)}`,
            },
          ];
        }),
      ),
  },
  {
    name: 'acyclic-dependencies',
    check: (input) => {
      const graph = new Map(
        input.components.flatMap((c) =>
          c.id ? [[c.id, c.dependsOn.filter((d): d is string => typeof d === 'string' && d !== c.id)]] : [],
        ),
      );
      return findCycles(graph).map((cycle): Finding => {
        const where = input.components.find((c) => c.id === cycle[0])!;
        return {
          severity: 'error',
          path: ['components', where.index, 'dependsOn'],
          message: `dependency cycle ${cycle.join(' -> ')}: nothing in it could ever start; remove one of these dependencies`,
        };
      });
    },
  },
  {
    name: 'backup-types-of-the-kind',
    check: (input) =>
      input.components.flatMap((c) => {
        if (!c.kind || !KIND_NAMES.includes(c.kind as Component['kind'])) return [];
        const types = kindOf({ kind: c.kind } as Component).backups?.types;
        if (!types) return [];
        return list(record(c.fields.backup).schedules).flatMap((schedule, i): Finding[] => {
          const type = text(record(schedule).type);
          if (type === undefined || types.includes(type as (typeof types)[number])) return [];
          return [
            {
              severity: 'error',
              path: ['components', c.index, 'backup', 'schedules', i, 'type'],
              message: `${c.kind} backups are ${types.join(' or ')}, not ${type}: the engine cannot take that kind of backup of it`,
            },
          ];
        });
      }),
  },
  {
    name: 'backup-only-on-data-commands',
    check: (input) =>
      input.components
        .filter((c) => c.kind === 'command' && c.fields.backup !== undefined && c.fields.stateful !== true)
        .map((c) => ({
          severity: 'error',
          path: ['components', c.index, 'backup'],
          at: 'key',
          message: 'a command component carries no data unless it says `stateful: true`: add that, or remove `backup`',
        })),
  },
  {
    name: 'dynamodb-backup-needs-arn',
    check: (input) =>
      input.components
        .filter(
          (c) => c.kind === 'dynamodb-table' && c.fields.restoreFrom === 'backup' && c.fields.backupArn === undefined,
        )
        .map((c) => ({
          severity: 'error',
          path: ['components', c.index, 'restoreFrom'],
          message: 'restoreFrom: backup needs backupArn: add the ARN of the backup, or use restoreFrom: pitr',
        })),
  },
  {
    name: 'unique-scenario-names',
    check: (input) => {
      const seen = new Set<string>();
      return list(input.raw.scenarios).flatMap((s, index): Finding[] => {
        const name = text(record(s).name);
        if (!name) return [];
        if (seen.has(name))
          return [
            {
              severity: 'error',
              path: ['scenarios', index, 'name'],
              message: `duplicate scenario "${name}": rename one`,
            },
          ];
        seen.add(name);
        return [];
      });
    },
  },
  {
    name: 'known-scenario-components',
    check: (input) =>
      list(input.raw.scenarios).flatMap((s, index) =>
        list(record(s).components).flatMap((id, i): Finding[] =>
          typeof id === 'string' && !ids(input).has(id)
            ? [
                {
                  severity: 'error',
                  path: ['scenarios', index, 'components', i],
                  message: `unknown component "${id}": use one of ${suggestIds(input)}`,
                },
              ]
            : [],
        ),
      ),
  },
  {
    name: 'known-trigger-scenarios',
    check: (input) => {
      const declared = list(input.raw.scenarios).flatMap((s) => (text(record(s).name) ? [text(record(s).name)!] : []));
      const names = declared.length > 0 ? declared : ['full-restore'];
      return list(input.raw.triggers).flatMap((t, index): Finding[] => {
        const scenario = text(record(t).scenario);
        return scenario && !names.includes(scenario)
          ? [
              {
                severity: 'error',
                path: ['triggers', index, 'scenario'],
                message: `unknown scenario "${scenario}": use one of ${names.join(', ')}`,
              },
            ]
          : [];
      });
    },
  },
  {
    name: 'data-components-have-backups',
    check: (input) =>
      input.components
        .filter((c) => isStatefulLoose(c) && list(record(c.fields.backup).schedules).length === 0)
        .map((c) => ({
          severity: 'warning',
          path: ['components', c.index, 'id'],
          message: `"${c.id ?? c.index}" carries data but lists no backup schedules: its RPO cannot be met; add backup.schedules`,
        })),
  },
  {
    name: 'component-objectives-within-plan',
    check: (input) => {
      const plan = record(input.raw.objectives);
      return input.components.flatMap((c) =>
        (['rpo', 'rto'] as const).flatMap((objective): Finding[] => {
          const own = parseDuration(text(record(c.fields.objectives)[objective]) ?? '');
          const planText = text(plan[objective]) ?? PLAN_DEFAULT_OBJECTIVES[objective];
          const planValue = parseDuration(planText);
          return own !== undefined && planValue !== undefined && own > planValue
            ? [
                {
                  severity: 'warning',
                  path: ['components', c.index, 'objectives', objective],
                  message: `${objective.toUpperCase()} ${text(record(c.fields.objectives)[objective])} is wider than the plan's ${planText}: the plan's objective cannot hold while this component may ${objective === 'rpo' ? 'lose more data' : 'take longer'}; tighten it or widen the plan's`,
                },
              ]
            : [];
        }),
      );
    },
  },
  {
    name: 'dns-after-recovery',
    check: (input) =>
      input.components
        .filter((c) => c.kind === 'route53-failover' && c.dependsOn.length === 0 && input.components.length > 1)
        .map((c) => ({
          severity: 'warning',
          path: ['components', c.index, 'id'],
          message: `"${c.id}" depends on nothing, so traffic moves before anything is recovered: add the services it fronts to dependsOn`,
        })),
  },
];
