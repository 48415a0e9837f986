/** An error whose message already says what happened and what to do next (printed without a stack). */
export class UserError extends Error {
  override readonly name = 'UserError';
}
