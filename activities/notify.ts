import { PublishCommand } from '@aws-sdk/client-sns';
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from './aws-clients';

/** Something people must hear about a recovery: whom to call is part of it. */
export interface RecoveryNotification {
  recoveryId: string;
  plan: string;
  scenario: string;
  event:
    | 'started'
    | 'rto-threshold'
    | 'rto-projected-overrun'
    | 'approval-waiting'
    | 'approval-escalated'
    | 'needs-operator'
    | 'finished'
    | 'cancelled'
    | 'drill-teardown-failed'
    | 'backup-failed'
    | 'rpo-breached';
  severity: 'info' | 'warning' | 'critical';
  /** One line, e.g. "75 % of the 4h RTO used (3h); projected finish 3h40m". */
  message: string;
  contacts: { name: string; role?: string; phone?: string; email?: string; slack?: string }[];
}

/** Where notifications go besides the log. Both are worker configuration, never workflow input. */
export interface NotificationChannels {
  /** A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): RECOVERY_SLACK_WEBHOOK_URL. */
  slackWebhookUrl?: string;
  /** An SNS topic (email, SMS, PagerDuty subscriptions): RECOVERY_SNS_TOPIC_ARN. */
  snsTopicArn?: string;
}

function describeContacts(contacts: RecoveryNotification['contacts']): string {
  return contacts
    .map((c) => [c.name, c.role && `(${c.role})`, c.phone, c.email, c.slack].filter(Boolean).join(' '))
    .join('; ');
}

export function notificationText(n: RecoveryNotification): string {
  const call = n.contacts.length ? ` Call: ${describeContacts(n.contacts)}.` : '';
  return `[${n.severity.toUpperCase()}] Recovery ${n.recoveryId} (${n.plan}/${n.scenario}): ${n.message}.${call}`;
}

export function createNotifyActivities(aws: AwsClients, channels: NotificationChannels) {
  return {
    /**
     * Sends a notification to every configured channel; the log always gets it. At least once: a
     * retry after a lost response may repeat a message, which beats losing one.
     */
    notify: async (notification: RecoveryNotification): Promise<{ channels: string[] }> => {
      const text = notificationText(notification);
      const delivered = ['log'];
      const fields = { event: notification.event, recoveryId: notification.recoveryId };
      if (notification.severity === 'info') log.info(text, fields);
      else log.warn(text, fields);
      if (channels.slackWebhookUrl) {
        const response = await fetch(channels.slackWebhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text }),
          signal: AbortSignal.timeout(10_000),
        });
        if (response.status >= 400 && response.status < 500 && response.status !== 429) {
          throw ApplicationFailure.nonRetryable(
            `the Slack webhook refused the message: HTTP ${response.status}`,
            'NotificationRejected',
          );
        }
        if (!response.ok) throw new Error(`the Slack webhook answered HTTP ${response.status}`);
        delivered.push('slack');
      }
      if (channels.snsTopicArn) {
        const region = channels.snsTopicArn.split(':')[3];
        await aws.sns(region).send(
          new PublishCommand({
            TopicArn: channels.snsTopicArn,
            Subject: `Recovery ${notification.event}: ${notification.plan}`.slice(0, 99),
            Message: text,
          }),
        );
        delivered.push('sns');
      }
      return { channels: delivered };
    },
  };
}
