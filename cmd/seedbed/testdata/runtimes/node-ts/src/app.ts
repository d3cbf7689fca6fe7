// An unchanged AWS Lambda handler written in TypeScript (ES module syntax).
import { echo, type Event } from "./echo";

export const handler = async (event: Event, context: { awsRequestId: string }) => echo("node-ts", event, context.awsRequestId);
