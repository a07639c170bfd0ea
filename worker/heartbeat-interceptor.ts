// Every activity that has a heartbeat timeout heartbeats on a clock, three times per timeout (at
// most once a second, at least every 100 ms), for as long as it runs, carrying the last progress
// it reported. A long step can therefore never be killed for silence while it works (and the old
// attempt left running beside its retry), however long one of its calls blocks; a step whose
// worker died stops heartbeating and is retried elsewhere within the timeout.
import type { Context } from '@temporalio/activity';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory } from '@temporalio/worker';
import { lastProgress } from '../activities/progress';

export function heartbeatOnAClock(ctx: Context): ActivityInboundCallsInterceptor {
  return {
    async execute(input, next) {
      const timeoutMs = ctx.info.heartbeatTimeoutMs;
      if (!timeoutMs) return next(input);
      const every = Math.max(100, Math.min(1000, Math.floor(timeoutMs / 3)));
      ctx.heartbeat(lastProgress(ctx));
      const timer = setInterval(() => ctx.heartbeat(lastProgress(ctx)), every);
      try {
        return await next(input);
      } finally {
        clearInterval(timer);
      }
    },
  };
}

export const heartbeatInterceptors: ActivityInterceptorsFactory = (ctx) => ({ inbound: heartbeatOnAClock(ctx) });
