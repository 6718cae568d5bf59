/** The engine's generic activities, for real: shells, HTTP, a webhook server, SNS and SQS on moto. */
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createAwsClients } from '../activities/aws-clients';
import { httpCheck } from '../activities/http-check';
import { createNotifyActivities, type RecoveryNotification } from '../activities/notify';
import { runCommand } from '../activities/run-command';
import type { MotoServer } from '../toolchain/moto-server';
import { runActivity } from './helpers/activity';
import { startMoto } from './helpers/servers';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-activities-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A local HTTP server answering every request with `status` and `body`, recording what it received. */
async function localServer(status: number, body: string): Promise<{ url: string; received: string[]; server: Server }> {
  const received: string[] = [];
  const server = createServer((request, response) => {
    let data = '';
    request.on('data', (chunk: Buffer) => (data += chunk.toString()));
    request.on('end', () => {
      received.push(data);
      response.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    });
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/health`, received, server };
}

/** Whether `pid` exits (or is left a zombie) within `ms`. */
async function gone(pid: number, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(50)) {
    try {
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) return true;
      process.kill(pid, 0);
    } catch {
      return true;
    }
  }
  return false;
}

describe('runCommand', () => {
  const run = (command: string, workingDir?: string, env = new MockActivityEnvironment()) =>
    runActivity(runCommand, { command, workingDir }, env);

  it('runs in the working directory and returns the output tail', async () => {
    const result = await run('pwd; echo restored 25 rows', scratch);
    assert.equal(result.exitCode, 0);
    assert.equal(result.outputTail, `${scratch}\nrestored 25 rows`);
  });

  it('fails with the exit status and the output, for the operator', async () => {
    await assert.rejects(run('echo "disk full" >&2; exit 3'), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, 'CommandFailed');
      assert.equal(error.nonRetryable, false, 'a failing command may succeed on retry');
      assert.match(error.message, /^command exited with status 3: echo "disk full" >&2; exit 3\ndisk full$/);
      return true;
    });
  });

  it('stops the whole process tree when the activity is cancelled', async () => {
    const pidFile = join(scratch, 'grandchild.pid');
    const env = new MockActivityEnvironment();
    const running = run(`sleep 60 & echo $! > ${pidFile}; wait`, undefined, env);
    while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') await sleep(20);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    env.cancel();
    await assert.rejects(running, (error: unknown) => error instanceof CancelledFailure);
    assert.ok(await gone(grandchild, 5_000), 'the background sleep is gone too');
  });
});

describe('httpCheck', () => {
  it('passes on the expected status and body, fails (retryably) otherwise', async () => {
    const { url, server } = await localServer(200, '{"status":"ok"}');
    const check = (input: Parameters<typeof httpCheck>[0]) => runActivity(httpCheck, input);
    try {
      assert.equal(
        (await check({ url, expectStatus: 200, expectBody: '"status":"ok"', timeoutMs: 2_000 })).status,
        200,
      );
      await assert.rejects(check({ url, expectStatus: 204, timeoutMs: 2_000 }), /answered 200, expected 204/);
      await assert.rejects(
        check({ url, expectStatus: 200, expectBody: 'healthy', timeoutMs: 2_000 }),
        /without "healthy" in the body/,
      );
    } finally {
      server.close();
    }
    await assert.rejects(check({ url, expectStatus: 200, timeoutMs: 2_000 }), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, 'HttpCheckUnreachable');
      return true;
    });
  });
});

describe('notify', () => {
  let moto: MotoServer;
  before(async () => {
    moto = await startMoto();
  });
  after(() => moto?.stop());

  const notification: RecoveryNotification = {
    recoveryId: 'recovery-agama-full-restore-INC-1',
    plan: 'agama',
    scenario: 'full-restore',
    event: 'rto-threshold',
    severity: 'critical',
    message: '90 % of the 4h RTO used; projected finish after 4h20m',
    contacts: [{ name: 'Ana', role: 'primary', phone: '+1 555 0100' }],
  };

  it('posts to a Slack-compatible webhook and publishes to SNS, naming whom to call', async () => {
    const aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
    const sqs = new SQSClient({ endpoint: moto.endpoint, region: 'us-east-1' });
    const { TopicArn } = await aws.sns().send(new CreateTopicCommand({ Name: 'recoveries' }));
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'pager' }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    await aws.sns().send(
      new SubscribeCommand({
        TopicArn,
        Protocol: 'sqs',
        Endpoint: Attributes!.QueueArn,
        Attributes: { RawMessageDelivery: 'true' },
      }),
    );
    const slack = await localServer(200, 'ok');

    try {
      const { notify } = createNotifyActivities(aws, { slackWebhookUrl: slack.url, snsTopicArn: TopicArn });
      const result = await runActivity(notify, notification);
      assert.deepEqual(result.channels, ['log', 'slack', 'sns']);
    } finally {
      slack.server.close();
    }
    const expected =
      '[CRITICAL] Recovery recovery-agama-full-restore-INC-1 (agama/full-restore): 90 % of the 4h RTO used; projected finish after 4h20m. Call: Ana (primary) +1 555 0100.';
    assert.deepEqual(
      slack.received.map((body) => (JSON.parse(body) as { text: string }).text),
      [expected],
    );
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
    assert.deepEqual(
      Messages.map((m) => m.Body),
      [expected],
    );
  });

  it('refuses a webhook that rejects the message, without retrying', async () => {
    const slack = await localServer(404, 'no_team');
    try {
      const { notify } = createNotifyActivities(createAwsClients(), { slackWebhookUrl: slack.url });
      await assert.rejects(runActivity(notify, notification), (error: unknown) => {
        assert.ok(error instanceof ApplicationFailure);
        assert.equal(error.nonRetryable, true);
        assert.match(error.message, /the Slack webhook refused the message: HTTP 404/);
        return true;
      });
    } finally {
      slack.server.close();
    }
  });
});
