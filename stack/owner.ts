import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Network } from '@cdktf/provider-docker/lib/network/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import type { IAspect } from 'cdktf';
import type { IConstruct } from 'constructs';

import { LABEL, labelBlocks } from './labels.js';

const OWNER_RULE = /^[A-Za-z0-9._:/-]{1,200}$/;

/** An owner label value: printable, no spaces or commas, bounded. */
export function validateOwner(owner: string): string {
  if (!OWNER_RULE.test(owner)) throw new Error(`owner must be 1-200 letters, digits or . _ : / -, got ${JSON.stringify(owner)}`);
  return owner;
}

/**
 * Adds the owner label to every container, network and volume of a stack,
 * so the constructs need not know about it. Only throw-away stacks (the e2e
 * suite's) have an owner; a user's stack has none.
 */
export class OwnerLabel implements IAspect {
  constructor(private readonly owner: string) {
    validateOwner(owner);
  }

  visit(node: IConstruct): void {
    if (!(node instanceof Container || node instanceof Network || node instanceof Volume)) return;
    const current = node.labelsInput;
    const existing = Array.isArray(current) ? (current as Array<{ label: string; value: string }>) : [];
    const labels = Object.fromEntries(existing.map((l) => [l.label, l.value]));
    node.putLabels(labelBlocks({ ...labels, [LABEL.owner]: this.owner }));
  }
}
