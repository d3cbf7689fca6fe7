// An unchanged AWS Lambda handler written in TypeScript (ES module syntax).
import { describe, type Greeting } from "./greeting";

interface Event {
  rawPath?: string;
  body?: string;
}

export const handler = async (event: Event): Promise<{ statusCode: number; body: string }> => {
  const g: Greeting = { who: "typescript", path: event.rawPath ?? "/" };
  return { statusCode: 200, body: describe(g) };
};
