/**
 * Local mode makes no AWS call, but the workflow's handlers construct their AWS SDK clients when
 * loaded (for Lambda), and on Node 20 each construction prints the SDK's NodeVersionSupportWarning
 * (8 lines on stderr of every `astaire local` command). Import this module before the handlers.
 * The lasting fix is clients made on first use in lambdas/ (see the note of issue 16).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export {};
