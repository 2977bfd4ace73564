// The workflow of docs/multi-process.md: a deploy that waits for a human's approval, sent from
// another process (a CLI command, a second window, a cron job).
import { Workflow, type WorkflowContext } from 'durablite';

export interface Approval {
  by: string;
}

export class Deploy {
  @Workflow()
  static async run(ctxt: WorkflowContext, version: string): Promise<string> {
    await ctxt.setEvent('status', `waiting for approval of ${version}`);
    const approval = await ctxt.recv<Approval>('approval', 24 * 3600);
    const outcome = approval === null ? `${version} not approved within a day` : `${version} deployed, approved by ${approval.by}`;
    await ctxt.setEvent('outcome', outcome);
    return outcome;
  }
}
