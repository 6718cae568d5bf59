import {
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  setCurrentDetails,
} from '@temporalio/workflow';
import type { RecoveryActivities } from '../activities';
import type { RecoveryNotification } from '../activities/notify';
import { analyzeScenario } from '../plan/analysis';
import { describeViolation, drillGuardViolations } from '../plan/drill-guard-check';
import { parseDuration } from '../plan/duration';
import {
  DRILL_SUFFIX,
  estimateOf,
  isStateful,
  runbooksOf,
  type Component,
  type ComponentRunbook,
  type StepContext,
} from '../plan/kinds';
import { formatMinutes } from '../plan/rpo';
import { PLAN_DEFAULT_OBJECTIVES, type RecoveryPlan } from '../plan/schema/plan';
import {
  componentRecoveryWorkflow,
  componentWorkflowId,
  describeFailure,
  SHORT_RETRY,
  STEP_REPORTS_IN_RESULT,
  type ComponentRunResult,
} from './component';
import { describeLeftovers, tearDownDrill } from './drill-teardown';
import {
  alertSignal,
  alertsSignal,
  approveUpdate,
  progressQuery,
  resolveUpdate,
  START_GATE,
  stepEventSignal,
  type ApproveInput,
  type ResolveInput,
} from './messages';
import {
  ALERT_BATCH_LIMIT,
  isDone,
  projectMinutes,
  summaryMarkdown,
  type AlertEvent,
  type ComponentProgress,
  type RecoveryProgress,
  type RecoveryStatus,
  type StepEvent,
} from './progress';
import { describeRequestIssues, recoveryRequestSchema, type RecoveryRequest } from './request';
import { RECOVERY_INCIDENT, RECOVERY_PLAN, RECOVERY_SCENARIO, RECOVERY_STATUS } from './search-attributes';

/** Plan loading, notifications and drill evidence: quick calls, retried a few times. */
const { loadRecoveryPlan, notify, saveDrillEvidence } = proxyActivities<RecoveryActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
});

/** Fractions of the RTO budget at which everyone hears where the recovery stands. */
export const RTO_THRESHOLDS = [0.5, 0.75, 0.9, 1] as const;

const minutesOf = (duration: string) => parseDuration(duration)! / 60_000;

/** Attempts a simulated step makes before it goes to the operator: the short profile's. */
export const SIMULATED_ATTEMPTS_PER_RUN = SHORT_RETRY.maximumAttempts;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Recovers a scenario of a plan. Each component starts the moment its own dependencies are done,
 * as a child workflow that runs its runbook; approval gates wait for a person; a step that keeps
 * failing waits for an operator's decision instead of failing the recovery; the RTO clock notifies
 * at 50/75/90/100 % of the budget and as soon as the projected finish passes the deadline. The
 * result is the report.
 */
export async function recoveryWorkflow(request: RecoveryRequest): Promise<RecoveryProgress> {
  const parsed = recoveryRequestSchema.safeParse(request);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `Invalid recovery request:\n${describeRequestIssues(parsed.error).join('\n')}`,
      'InvalidRecoveryRequest',
    );
  }
  const req = parsed.data;
  const { workflowId } = workflowInfo();
  const startedAt = Date.now();
  const clockStart = req.incident ? Date.parse(req.incident.detectedAt) : startedAt;

  const state: RecoveryProgress = {
    recoveryId: workflowId,
    plan: typeof req.plan === 'string' ? req.plan : typeof req.plan.name === 'string' ? req.plan.name : 'inline',
    scenario: req.scenario,
    mode: req.drill ? 'drill' : 'recover',
    ...(req.simulation && { simulated: true }),
    ...(req.requestedBy && { requestedBy: req.requestedBy }),
    status: 'loading',
    incident: req.incident,
    targetTime: req.targetTime,
    clockStartedAt: iso(clockStart),
    startedAt: iso(startedAt),
    elapsedMinutes: 0,
    rtoMinutes: minutesOf(PLAN_DEFAULT_OBJECTIVES.rto),
    deadline: iso(clockStart + minutesOf(PLAN_DEFAULT_OBJECTIVES.rto) * 60_000),
    projectedMinutes: 0,
    components: [],
    gates: [],
    decisions: [],
    pendingDecisions: [],
    notifications: [],
    warnings: [],
  };
  setHandler(progressQuery, () => ({ ...state, elapsedMinutes: (Date.now() - clockStart) / 60_000 }));
  let aborted: ResolveInput | undefined;
  const running = new Map<string, CancellationScope>();
  const decisions = new Map<string, ResolveInput>();
  const setStatus = (status: RecoveryStatus) => {
    state.status = status;
    upsertSearchAttributes([{ key: RECOVERY_STATUS, value: status }]);
  };
  upsertSearchAttributes([
    { key: RECOVERY_PLAN, value: state.plan },
    { key: RECOVERY_SCENARIO, value: req.scenario },
    { key: RECOVERY_STATUS, value: 'loading' },
    ...(req.incident ? [{ key: RECOVERY_INCIDENT, value: req.incident.id }] : []),
  ]);

  // Component runs may hand their last step reports back in their result (applied below).
  const reportsInResult = patched(STEP_REPORTS_IN_RESULT);

  // Handlers first: an approval or a decision sent while the plan loads gets a clear answer.
  const progressOf = (id: string) => state.components.find((c) => c.id === id)!;
  let refresh = () => setCurrentDetails(summaryMarkdown(state));
  const applyStepEvent = (event: StepEvent) => {
    const step = progressOf(event.component)?.steps.find((s) => s.id === event.step);
    if (!step) return;
    step.status = event.status;
    if (event.status === 'running') {
      step.startedAt = event.at;
      step.attempts += 1;
    } else {
      step.finishedAt = event.at;
      step.startedAt ??= event.at;
    }
    if (event.error !== undefined) step.error = event.error;
    if (event.result !== undefined) step.result = event.result;
  };
  setHandler(stepEventSignal, (event) => {
    applyStepEvent(event);
    refresh();
  });

  // Alerts about the incident, from the alert receiver: recorded (the latest few), never acted on.
  const recordAlert = (alert: AlertEvent) => {
    const alerts = (state.alerts ??= { received: 0, firing: 0, resolved: 0, latest: [] });
    alerts.received += 1;
    alerts[alert.status === 'resolved' ? 'resolved' : 'firing'] += 1;
    alerts.latest.push({ ...alert, summary: alert.summary?.slice(0, 300), receivedAt: iso(Date.now()) });
    if (alerts.latest.length > 20) alerts.latest.shift();
  };
  setHandler(alertSignal, recordAlert);
  setHandler(alertsSignal, ({ events, omitted }) => {
    for (const event of events.slice(0, ALERT_BATCH_LIMIT)) recordAlert(event);
    if (!omitted) return;
    const alerts = (state.alerts ??= { received: 0, firing: 0, resolved: 0, latest: [] });
    const firing = Math.max(0, Math.floor(omitted.firing)) || 0;
    const resolved = Math.max(0, Math.floor(omitted.resolved)) || 0;
    alerts.received += firing + resolved;
    alerts.firing += firing;
    alerts.resolved += resolved;
  });

  setHandler(
    approveUpdate,
    ({ gate, by, comment }: ApproveInput) => {
      const record = state.gates.find((g) => g.gate === gate)!;
      Object.assign(record, { status: 'approved', by, comment, decidedAt: iso(Date.now()) });
      refresh();
      return `approved ${gate} by ${by}`;
    },
    {
      validator: ({ gate, by }: ApproveInput) => {
        const record = state.gates.find((g) => g.gate === gate);
        const open = state.gates.filter((g) => g.status === 'waiting').map((g) => g.gate);
        if (!by?.trim()) throw new Error('say who approves: `by` is required');
        if (!record)
          throw new Error(
            `unknown gate "${gate}"; gates of this recovery: ${state.gates.map((g) => g.gate).join(', ') || 'none'}`,
          );
        if (record.status === 'approved')
          throw new Error(`gate "${gate}" was already approved by ${record.by} at ${record.decidedAt}`);
        if (record.status === 'closed' && gate === START_GATE)
          throw new Error(`gate "${gate}" is not open yet: the recovery is still loading its plan`);
        if (record.status === 'closed') {
          throw new Error(
            `gate "${gate}" is not open yet: ${gate} still waits for ${progressOf(gate).dependsOn.join(', ')}; open gates: ${open.join(', ') || 'none'}`,
          );
        }
      },
    },
  );

  setHandler(
    resolveUpdate,
    (input: ResolveInput) => {
      const pending = state.pendingDecisions.find((d) => d.component === input.component)!;
      state.decisions.push({ ...input, step: pending.step, at: iso(Date.now()) });
      state.pendingDecisions = state.pendingDecisions.filter((d) => d !== pending);
      decisions.set(input.component, input);
      if (input.action === 'abort') {
        aborted = input;
        for (const scope of running.values()) scope.cancel();
      }
      refresh();
      return `${input.action} ${input.component} by ${input.by}`;
    },
    {
      validator: ({ component, action, by }: ResolveInput) => {
        if (!by?.trim()) throw new Error('say who decides: `by` is required');
        if (!['retry', 'skip', 'abort'].includes(action))
          throw new Error(`action must be retry, skip or abort, not "${action}"`);
        if (!state.pendingDecisions.some((d) => d.component === component)) {
          const waiting = state.pendingDecisions.map((d) => d.component);
          throw new Error(
            `"${component}" does not need an operator; components waiting for a decision: ${waiting.join(', ') || 'none'}`,
          );
        }
      },
    },
  );

  let plan: RecoveryPlan;
  let loaded: { plan: RecoveryPlan; warnings: string[]; runbooks?: Record<string, ComponentRunbook> };
  try {
    loaded = await loadRecoveryPlan({
      plan: req.plan,
      scenario: req.scenario,
      drill: req.drill,
      targetTime: req.targetTime,
    });
    plan = loaded.plan;
    state.warnings = loaded.warnings;
  } catch (error) {
    setStatus('failed');
    throw error;
  }
  const analysis = analyzeScenario(plan, req.scenario);
  const mode = req.drill ? 'drill' : analysis.mode;
  const context: StepContext = {
    mode,
    targetTime: req.targetTime ?? 'latest',
    drillSuffix: DRILL_SUFFIX,
  };
  const components = new Map<string, Component>(plan.components.map((c) => [c.id, c]));
  // Recorded by the activity; recoveries started before it recorded them rebuild them here.
  const runbooks: Record<string, ComponentRunbook> =
    loaded.runbooks ??
    runbooksOf(
      analysis.components.map((id) => components.get(id)!),
      context,
    );
  const simulation = req.simulation;
  // Failed attempts still to inject per component, across runs (an operator's retry continues them).
  const failuresLeft = new Map(Object.entries(simulation?.fail ?? {}));
  if (simulation) {
    const unknown = [...Object.keys(simulation.slow), ...Object.keys(simulation.fail)].filter(
      (id) => !components.has(id),
    );
    if (unknown.length) {
      setStatus('failed');
      throw ApplicationFailure.nonRetryable(
        `simulation: no component ${unknown.map((id) => `"${id}"`).join(', ')} in plan ${plan.name} (components: ${[...components.keys()].join(', ')})`,
        'InvalidRecoveryRequest',
      );
    }
  }
  // A drill writes only to copies: one step aimed at a production resource of the plan stops it
  // here, before anything is called.
  const violations = mode === 'drill' ? drillGuardViolations(plan.components, runbooks) : [];
  if (violations.length) {
    setStatus('failed');
    throw ApplicationFailure.nonRetryable(
      `drill guard: the drill of ${plan.name} / ${req.scenario} would write production resources; nothing was run:\n${violations.map(describeViolation).join('\n')}`,
      'DrillGuard',
    );
  }
  const rtoMs = analysis.rtoMinutes * 60_000;
  Object.assign(state, {
    plan: plan.name,
    mode,
    rtoMinutes: analysis.rtoMinutes,
    deadline: iso(clockStart + rtoMs),
  });
  upsertSearchAttributes([{ key: RECOVERY_PLAN, value: plan.name }]);
  state.components = analysis.components.map((id): ComponentProgress => {
    const component = components.get(id)!;
    const timing = analysis.timeline.find((t) => t.component === id)!;
    const rpo = analysis.rpo.find((r) => r.component === id);
    return {
      id,
      kind: component.kind,
      dependsOn: component.dependsOn,
      status: 'pending',
      estimateMinutes: minutesOf(estimateOf(component)),
      approvalRequired: component.approval === 'required',
      runs: 0,
      steps: runbooks[id]!.steps.map((step) => ({
        id: step.id,
        title: step.title,
        status: 'pending',
        automation: !step.automation
          ? 'manual'
          : 'coveredBy' in step.automation
            ? 'covered'
            : 'timer' in step.automation
              ? 'timer'
              : 'activity',
        attempts: 0,
      })),
      rto: { objectiveMinutes: timing.rtoObjectiveMinutes },
      ...(isStateful(component) && rpo ? { rpo: { objectiveMinutes: rpo.objectiveMinutes } } : {}),
    };
  });
  state.gates = [
    ...(req.hold ? [{ gate: START_GATE, status: 'closed' as const, escalatedTo: [] }] : []),
    ...state.components
      .filter((c) => c.approvalRequired)
      .map((c) => ({ gate: c.id, status: 'closed' as const, escalatedTo: [] })),
  ];

  // Notifications are queued by whoever notices something and sent in order by one sender, so
  // handlers never wait on an activity and each notice is sent exactly once.
  const outbox: RecoveryNotification[] = [];
  let finished = false;
  const contacts = plan.contacts;
  const tell = (
    event: RecoveryNotification['event'],
    severity: RecoveryNotification['severity'],
    message: string,
    to = contacts.slice(0, 1),
  ) => {
    outbox.push({
      recoveryId: workflowId,
      plan: plan.name,
      scenario: req.scenario,
      event,
      severity,
      message,
      contacts: to,
    });
    state.notifications.push({ event, at: iso(Date.now()), message });
  };
  const sender = CancellationScope.nonCancellable(async () => {
    for (;;) {
      await condition(() => outbox.length > 0 || finished);
      if (outbox.length === 0) return;
      await notify(outbox.shift()!);
    }
  });

  let projectedOverrunNotified = false;
  refresh = () => {
    const now = Date.now();
    if (state.status === 'running' || state.status === 'waiting') {
      const waiting = state.pendingDecisions.length > 0 || state.gates.some((g) => g.status === 'waiting');
      // Searchable, so `recovery list --status waiting` finds the recoveries that need someone.
      if (waiting !== (state.status === 'waiting')) setStatus(waiting ? 'waiting' : 'running');
    }
    state.elapsedMinutes = (now - clockStart) / 60_000;
    state.projectedMinutes = projectMinutes(state, now);
    if (!projectedOverrunNotified && !finished && state.projectedMinutes > state.rtoMinutes) {
      projectedOverrunNotified = true;
      tell(
        'rto-projected-overrun',
        'critical',
        `projected to finish after ${formatMinutes(state.projectedMinutes)}, past the ${formatMinutes(state.rtoMinutes)} RTO (deadline ${state.deadline})`,
        contacts,
      );
    }
    setCurrentDetails(summaryMarkdown(state));
  };

  /** Waits for a person to approve `id`, escalating along the contacts while nobody does. */
  async function passGate(id: string): Promise<void> {
    const gate = state.gates.find((g) => g.gate === id)!;
    if (simulation) {
      Object.assign(gate, { status: 'waiting', openedAt: iso(Date.now()) });
      if (id !== START_GATE) progressOf(id).status = 'waiting-approval';
      refresh();
      if (simulation.approvalDelayMinutes > 0) await sleep(simulation.approvalDelayMinutes * 60_000);
      Object.assign(gate, { status: 'approved', by: 'simulated approver', decidedAt: iso(Date.now()) });
      return;
    }
    if (req.approvals?.auto) {
      Object.assign(gate, {
        status: 'approved',
        by: 'auto (approvals.auto)',
        openedAt: iso(Date.now()),
        decidedAt: iso(Date.now()),
      });
      return;
    }
    Object.assign(gate, { status: 'waiting', openedAt: iso(Date.now()) });
    if (id !== START_GATE) progressOf(id).status = 'waiting-approval';
    refresh();
    tell('approval-waiting', 'warning', `${id} waits for approval: recovery approve ${workflowId} ${id}`);
    const decided = () => gate.status === 'approved' || aborted !== undefined;
    for (let i = 0; !decided(); i++) {
      const after = contacts[i]?.escalateAfter;
      const next = contacts[i + 1];
      if (!after || !next) {
        await condition(decided);
        break;
      }
      if (!(await condition(decided, parseDuration(after)!))) {
        gate.escalatedTo.push(next.name);
        tell(
          'approval-escalated',
          'critical',
          `${id} has waited ${after} for approval after notifying ${contacts[i]!.name}: recovery approve ${workflowId} ${id}`,
          [next],
        );
      }
    }
  }

  /** Runs one component: waits for its dependencies, its gate, then its runbook until done or decided otherwise. */
  async function recoverComponent(id: string): Promise<void> {
    const progress = progressOf(id);
    const component = components.get(id)!;
    await condition(() => aborted !== undefined || progress.dependsOn.every((d) => isDone(progressOf(d))));
    if (aborted) {
      progress.status = 'not-started';
      return;
    }
    if (progress.approvalRequired) await passGate(id);
    if (aborted) {
      progress.status = 'not-started';
      return;
    }
    progress.status = 'running';
    progress.startedAt = iso(Date.now());
    let resumeFrom: string | undefined;
    for (;;) {
      progress.runs += 1;
      refresh();
      const scope = new CancellationScope();
      running.set(id, scope);
      let result: ComponentRunResult;
      try {
        result = await scope.run(() =>
          executeChild(componentRecoveryWorkflow, {
            workflowId: componentWorkflowId(workflowId, id, progress.runs),
            args: [
              {
                recoveryId: workflowId,
                component,
                context,
                steps: runbooks[id]!.steps,
                resumeFrom,
                ...(reportsInResult && { reportsInResult }),
                ...(simulation && {
                  simulation: {
                    minutes: minutesOf(estimateOf(component)) * (simulation.slow[id] ?? 1),
                    failAttempts: failuresLeft.get(id) ?? 0,
                  },
                }),
              },
            ],
          }),
        );
      } catch (error) {
        if (isCancellation(error)) {
          if (!aborted) throw error;
          progress.status = 'cancelled';
          return;
        }
        // The child itself failed (a bug, a bad runbook): an operator decides, as for a failed step.
        const step = resumeFrom ?? progress.steps[0]?.id ?? 'start';
        const cause = (error as Error).cause;
        result = {
          ok: false,
          results: {},
          failed: { step, error: cause instanceof Error ? cause.message : String(error) },
        };
      } finally {
        running.delete(id);
      }
      // The reports the run had not signalled when it ended (runs since 'pipelined-step-reports').
      if (result.events?.length) {
        for (const event of result.events) applyStepEvent(event);
        refresh();
      }
      const restored = Object.values(result.results).find(
        (r): r is { recoveryPoint: string } => typeof (r as { recoveryPoint?: unknown })?.recoveryPoint === 'string',
      );
      if (restored) progress.recoveryPoint = restored.recoveryPoint;
      if (result.ok) {
        Object.assign(progress, { status: 'succeeded', finishedAt: iso(Date.now()) });
        return;
      }
      const failed = result.failed!;
      progress.status = 'needs-operator';
      progress.lastError = failed.error;
      state.pendingDecisions.push({
        component: id,
        step: failed.step,
        error: failed.error,
        manualCommand: failed.manualCommand,
      });
      refresh();
      tell(
        'needs-operator',
        'critical',
        `${id} stopped at step "${failed.step}": ${failed.error}; decide with: recovery resolve ${workflowId} ${id} retry|skip|abort`,
      );
      decisions.delete(id);
      if (simulation) {
        // A person retries after a while; the failures injected so far are used up.
        await sleep(simulation.operatorDelayMinutes * 60_000);
        failuresLeft.set(id, Math.max(0, (failuresLeft.get(id) ?? 0) - SIMULATED_ATTEMPTS_PER_RUN));
        const decision = { component: id, action: 'retry' as const, by: 'simulated operator' };
        state.decisions.push({ ...decision, step: failed.step, at: iso(Date.now()) });
        state.pendingDecisions = state.pendingDecisions.filter((d) => d.component !== id);
        decisions.set(id, decision);
      }
      await condition(() => decisions.has(id) || aborted !== undefined);
      const decision = decisions.get(id);
      if (!decision || decision.action === 'abort') {
        Object.assign(progress, { status: 'failed', finishedAt: iso(Date.now()) });
        return;
      }
      progress.status = 'running';
      const steps = progress.steps.map((s) => s.id);
      if (decision.action === 'retry') {
        resumeFrom = failed.step;
        continue;
      }
      const step = progress.steps.find((s) => s.id === failed.step)!;
      Object.assign(step, {
        status: 'skipped',
        actor: decision.by,
        comment: decision.comment,
        finishedAt: iso(Date.now()),
      });
      resumeFrom = steps[steps.indexOf(failed.step) + 1];
      if (resumeFrom === undefined) {
        Object.assign(progress, { status: 'succeeded', finishedAt: iso(Date.now()) });
        return;
      }
    }
  }

  /** Notifies at each fraction of the RTO budget, once, unless the recovery is over first. */
  const rtoClock = new CancellationScope();
  const clock = rtoClock.run(async () => {
    for (const fraction of RTO_THRESHOLDS) {
      const at = clockStart + fraction * rtoMs;
      if (at > Date.now() && (await condition(() => finished, at - Date.now()))) return;
      refresh();
      tell(
        'rto-threshold',
        fraction >= 0.9 ? 'critical' : 'warning',
        `${Math.round(fraction * 100)} % of the ${formatMinutes(state.rtoMinutes)} RTO used; projected finish after ${formatMinutes(state.projectedMinutes)}`,
        fraction >= 0.9 ? contacts : contacts.slice(0, 1),
      );
    }
  });
  clock.catch(() => undefined); // cancelled with the recovery: nothing to report

  setStatus('running');
  refresh();
  tell(
    'started',
    'info',
    `started: ${state.components.length} components, estimated ${formatMinutes(analysis.estimatedRtoMinutes)} against an RTO of ${formatMinutes(analysis.rtoMinutes)}`,
  );

  // Every component settles before the end, so a cancelled recovery waits until its running
  // steps have really stopped before it says so. A held recovery starts them once approved.
  const held = req.hold ? await Promise.allSettled([passGate(START_GATE)]) : [];
  const outcomes = held.some((o) => o.status === 'rejected')
    ? held
    : await Promise.allSettled(state.components.map((c) => recoverComponent(c.id)));
  const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failure) {
    const error: unknown = failure.reason;
    if (!isCancellation(error)) throw error;
    await CancellationScope.nonCancellable(async () => {
      for (const c of state.components) {
        if (c.status === 'running' || c.status === 'needs-operator' || c.status === 'waiting-approval')
          c.status = 'cancelled';
        else if (c.status === 'pending') c.status = 'not-started';
      }
      finish('cancelled');
      await closeDrill();
      const done = state.components.filter(isDone).map((c) => c.id);
      tell(
        'cancelled',
        'critical',
        `cancelled; done: ${done.join(', ') || 'nothing'}; not done: ${state.components
          .filter((c) => !isDone(c))
          .map((c) => c.id)
          .join(', ')}`,
        contacts,
      );
      finished = true;
      await sender;
    });
    throw error;
  }

  const status: RecoveryStatus = aborted ? 'aborted' : state.components.every(isDone) ? 'succeeded' : 'failed';
  finish(status);
  // The RTO is judged when the recovery is done; the drill's clean-up and evidence come after it.
  await CancellationScope.nonCancellable(closeDrill);
  const leftovers = state.teardown?.some((t) => t.status === 'failed');
  tell(
    'finished',
    status === 'succeeded' && !leftovers ? 'info' : 'critical',
    `${status} after ${formatMinutes(state.elapsedMinutes)} (RTO ${formatMinutes(state.rtoMinutes)}: ${state.rtoMet ? 'met' : 'NOT met'})${state.teardown ? `; teardown ${leftovers ? 'FAILED' : 'done'}` : ''}`,
    contacts,
  );
  finished = true;
  rtoClock.cancel();
  await sender;
  return state;

  /**
   * A real drill's end, however it ended: its teardown removes what it created (a failure names
   * what is left, to everyone), then the worker saves the evidence. Simulations touch nothing.
   */
  async function closeDrill(): Promise<void> {
    if (mode !== 'drill' || simulation || !patched('drill-teardown-and-evidence')) return;
    const records = await tearDownDrill(state, runbooks, refresh);
    const leftovers = describeLeftovers(records);
    if (leftovers.length)
      tell('drill-teardown-failed', 'critical', `the drill's teardown left:\n${leftovers.join('\n')}`, contacts);
    try {
      state.evidence = await saveDrillEvidence(state);
    } catch (error) {
      state.warnings.push(`drill evidence not saved: ${describeFailure(error)}`);
    }
    refresh();
  }

  /** Final figures: achieved RTO for the recovery and each component, achieved RPO for data. */
  function finish(status: RecoveryStatus) {
    const now = Date.now();
    state.finishedAt = iso(now);
    refresh();
    state.rtoMet = status === 'succeeded' && state.elapsedMinutes <= state.rtoMinutes;
    for (const c of state.components) {
      if (c.finishedAt === undefined && (isDone(c) || c.status === 'failed')) c.finishedAt = iso(now);
      if (isDone(c) && c.finishedAt) {
        c.rto.achievedMinutes = (Date.parse(c.finishedAt) - clockStart) / 60_000;
        c.rto.met = c.rto.achievedMinutes <= c.rto.objectiveMinutes;
      }
      if (c.rpo && c.recoveryPoint) {
        c.rpo.achievedMinutes = Math.max(0, (clockStart - Date.parse(c.recoveryPoint)) / 60_000);
        c.rpo.met = c.rpo.achievedMinutes <= c.rpo.objectiveMinutes;
      }
    }
    setStatus(status);
    setCurrentDetails(summaryMarkdown(state));
  }
}
