// An unchanged Node Lambda handler of EventBridge and SQS events: a
// schedule's event is echoed, an SQS batch answered with the records whose
// body starts with "poison" as partial batch failures.
exports.handler = async (event) => {
  if (event['detail-type']) {
    console.log('scheduled event', event.id, event.time);
    return { kind: 'schedule', id: event.id, time: event.time, detailType: event['detail-type'], source: event.source, resources: event.resources };
  }
  if (Array.isArray(event.Records)) {
    return {
      batchItemFailures: event.Records.filter((r) => r.body.startsWith('poison')).map((r) => ({ itemIdentifier: r.messageId })),
    };
  }
  throw new Error('unknown event');
};
