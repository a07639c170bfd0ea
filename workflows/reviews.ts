// The weekly and monthly reviews as runbooks: Monday health review, Wednesday performance review,
// Friday capacity report; monthly alert-threshold review, rate-limit review and security
// checklist. Each writes a Markdown report (with SVG charts) to the reports directory and returns it.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CommonInput, RunbookName } from '../common/runbooks';
import type { Activities } from '../activities';
import type { Report } from '../activities/reviews';
import { shortStep } from './presets';
import { openRun, recorded, scheduledTime } from './run-record';

const quick = proxyActivities<Activities>({ ...shortStep, startToCloseTimeout: '30 minutes' });

export interface ReviewResult {
  runbook: string;
  outcome: 'succeeded';
  report: Report;
}

type ReviewActivity = 'weeklyHealthReview' | 'weeklyPerformanceReview' | 'weeklyCapacityReport' | 'monthlyThresholdReview' | 'monthlyRateLimitReview' | 'monthlySecurityChecklist';

type ReviewRunbook = Extract<RunbookName, `weekly-${string}` | `monthly-${string}`>;

async function review(runbook: ReviewRunbook, activity: ReviewActivity, what: string, raw: CommonInput): Promise<ReviewResult> {
  const { run } = openRun(runbook, raw);
  return recorded(run, async () => {
    run.target('reports');
    const at = scheduledTime() ?? workflowInfo().startTime;
    const label = at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
    run.step('gather and write', what);
    const report = await quick[activity].executeWithOptions({ summary: what }, [{ label }]);
    run.finish('succeeded', `${report.path}\n\n${report.markdown.split('\n').slice(0, 12).join('\n')}`);
    return { runbook, outcome: 'succeeded', report };
  });
}

export const weeklyHealthReview = (input: CommonInput = {}): Promise<ReviewResult> => review('weekly-health-review', 'weeklyHealthReview', 'alerts, incidents and failed runs of the past week', input);
export const weeklyPerformanceReview = (input: CommonInput = {}): Promise<ReviewResult> =>
  review('weekly-performance-review', 'weeklyPerformanceReview', 'response-time percentiles and detection patterns over 7 days', input);
export const weeklyCapacityReport = (input: CommonInput = {}): Promise<ReviewResult> => review('weekly-capacity-report', 'weeklyCapacityReport', 'storage growth, nodes, memory and projections', input);
export const monthlyThresholdReview = (input: CommonInput = {}): Promise<ReviewResult> => review('monthly-threshold-review', 'monthlyThresholdReview', 'what fired against which thresholds', input);
export const monthlyRateLimitReview = (input: CommonInput = {}): Promise<ReviewResult> => review('monthly-rate-limit-review', 'monthlyRateLimitReview', 'nodes near their rate limits', input);
export const monthlySecurityChecklist = (input: CommonInput = {}): Promise<ReviewResult> => review('monthly-security-checklist', 'monthlySecurityChecklist', 'the security checklist', input);
