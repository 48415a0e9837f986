import { Network } from '@cdktf/provider-docker/lib/network/index.js';
import { Construct } from 'constructs';

import { labelBlocks, stackLabels } from './labels.js';

export interface MeshProps {
  readonly namePrefix: string;
  /** The DNS domain workloads are named in (their SANs live under it). @default 'mesh.internal' */
  readonly domain?: string;
}

/**
 * Two user-defined bridges. `mesh` is internal: workloads talk to each other
 * and to the CA there, and nothing can reach the outside world. Docker
 * silently ignores port publishing on internal networks, so containers that
 * publish a port on 127.0.0.1 (the CA, the server) also join `edge`.
 */
export class Mesh extends Construct {
  public readonly meshNetworkName: string;
  public readonly edgeNetworkName: string;
  public readonly domain: string;

  constructor(scope: Construct, id: string, props: MeshProps) {
    super(scope, id);
    this.domain = props.domain ?? 'mesh.internal';
    const mesh = new Network(this, 'mesh', {
      name: `${props.namePrefix}-mesh`,
      driver: 'bridge',
      internal: true,
      labels: labelBlocks(stackLabels(props.namePrefix)),
    });
    const edge = new Network(this, 'edge', {
      name: `${props.namePrefix}-edge`,
      driver: 'bridge',
      internal: false,
      labels: labelBlocks(stackLabels(props.namePrefix)),
    });
    this.meshNetworkName = mesh.name;
    this.edgeNetworkName = edge.name;
  }
}
