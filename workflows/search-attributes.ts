import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * Custom search attributes of recoveries, for `recovery list` and the UI's filters. They must be
 * registered on the namespace first: the dev server and the test servers get them from the
 * harness; on a real cluster, see the README (`temporal operator search-attribute create`).
 */
export const RECOVERY_PLAN = defineSearchAttributeKey('RecoveryPlan', 'KEYWORD');
export const RECOVERY_SCENARIO = defineSearchAttributeKey('RecoveryScenario', 'KEYWORD');
export const RECOVERY_INCIDENT = defineSearchAttributeKey('RecoveryIncident', 'KEYWORD');
export const RECOVERY_STATUS = defineSearchAttributeKey('RecoveryStatus', 'KEYWORD');

export const RECOVERY_SEARCH_ATTRIBUTES = [RECOVERY_PLAN, RECOVERY_SCENARIO, RECOVERY_INCIDENT, RECOVERY_STATUS];
