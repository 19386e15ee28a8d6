import type { Logger } from 'pino';
import { Node, type NodeOptions } from '../node/node.js';

export type CoordinatorOptions = NodeOptions;

/** A running node (here: the coordinator of its own network). */
export type Coordinator = Node;

/**
 * Starts a node that contacts nobody: with no discovery and no `join`
 * addresses it becomes the coordinator at once. For tests and `serve --locked`
 * without `--join`.
 */
export function startCoordinator(options: CoordinatorOptions, log: Logger): Promise<Coordinator> {
  return Node.start(options, log);
}
