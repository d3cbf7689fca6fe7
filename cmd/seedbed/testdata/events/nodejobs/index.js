// An unchanged Node Lambda handler of EventBridge scheduled events.
exports.handler = async (event) => {
  if (event['detail-type'] !== 'Scheduled Event') {
    throw new Error('not a scheduled event');
  }
  console.log('node scheduled event', event.id, event.time);
  return { id: event.id, time: event.time };
};
