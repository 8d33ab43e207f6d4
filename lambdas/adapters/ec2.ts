import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { InstanceAddresses } from '../ports';

type Ec2Like = Pick<EC2Client, 'send'>;

/** Private IPv4 addresses of instances (terminated ones are left out). */
export class Ec2InstanceAddresses implements InstanceAddresses {
  constructor(private readonly ec2: Ec2Like) {}

  async privateIps(instanceIds: readonly string[]): Promise<ReadonlyMap<string, string>> {
    const ips = new Map<string, string>();
    // A filter (not InstanceIds) so that an id that vanished meanwhile is absent, not an error.
    for (let i = 0; i < instanceIds.length; i += 195) {
      let nextToken: string | undefined;
      do {
        const out = await this.ec2.send(
          new DescribeInstancesCommand({
            Filters: [{ Name: 'instance-id', Values: instanceIds.slice(i, i + 195) }],
            NextToken: nextToken,
          }),
        );
        for (const r of out.Reservations ?? [])
          for (const inst of r.Instances ?? [])
            if (inst.InstanceId && inst.PrivateIpAddress && inst.State?.Name !== 'terminated')
              ips.set(inst.InstanceId, inst.PrivateIpAddress);
        nextToken = out.NextToken;
      } while (nextToken);
    }
    return ips;
  }
}
