import { z } from 'zod';
import { parseDuration } from '../duration';
import { duration } from '../schema/common';
import { automate, componentSchema, sh, type KindDefinition } from './define';

export const schema = componentSchema('http-check', {
  url: z.string().url(),
  expectStatus: z.number().int().min(100).max(599).default(200),
  expectBody: z.string().optional().describe('Text the response body must contain'),
  timeout: duration.default('10s'),
});

export type HttpCheckComponent = z.infer<typeof schema>;

/** An HTTP probe that proves a recovered service answers. */
export const httpCheckKind: KindDefinition<HttpCheckComponent> = {
  kind: 'http-check',
  title: 'HTTP check',
  stateful: false,
  tier: 'check',
  defaultEstimate: '2m',
  schema,
  steps(c, { mode }) {
    const seconds = Math.max(1, Math.ceil((parseDuration(c.timeout) ?? 10_000) / 1000));
    // --fail-with-body makes curl exit non-zero on 4xx/5xx, which would fail a check that expects one.
    const curl = `curl ${c.expectStatus < 400 ? '--fail-with-body ' : ''}--max-time ${seconds} -sS`;
    return [
      {
        id: 'check',
        title: `Check that ${c.url} answers ${c.expectStatus}`,
        does: `Proves the recovered service answers${c.expectBody ? ' with the expected content' : ''}, within ${c.timeout}.${mode === 'drill' ? ' It only reads, so a drill runs it as is.' : ''}`,
        command: [
          `${curl} -o /dev/null -w '%{http_code}\\n' ${sh(c.url)}`,
          ...(c.expectBody ? [`${curl} ${sh(c.url)} | grep -F -q -- ${sh(c.expectBody)} && echo found`] : []),
        ].join('\n'),
        automation: automate(
          'httpCheck',
          {
            url: c.url,
            expectStatus: c.expectStatus,
            expectBody: c.expectBody,
            timeoutMs: seconds * 1000,
          },
          'short',
          [],
        ),
        validate: `test "$(curl --max-time ${seconds} -sS -o /dev/null -w '%{http_code}' ${sh(c.url)})" = ${c.expectStatus} && echo ok   # ok: the status is ${c.expectStatus}${c.expectBody ? ', and the first command printed found' : ''}`,
      },
    ];
  },
};
