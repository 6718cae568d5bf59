export { componentRecoveryWorkflow } from './component';
export { recoveryWorkflow } from './recovery';
