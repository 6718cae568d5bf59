export { recoveryWorkflow } from './recovery';
export type { RecoveryReport, StepReport } from './recovery';
export type { RecoveryInput, RecoveryStep } from './recovery-input';
