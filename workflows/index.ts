export { componentRecoveryWorkflow } from './component';
export { recoveryWorkflow } from './recovery';
export { backupWorkflow, integrityCheckWorkflow } from './backup';
export { rpoWatchdogWorkflow } from './rpo-watchdog';
