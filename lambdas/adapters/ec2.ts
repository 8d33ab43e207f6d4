import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { InstanceAddresses } from '../ports';

type Ec2Like = Pick<EC2Client, 'send'>;

/** Private IPv4 addresses and Availability Zones of instances (terminated ones are left out). */
export class Ec2InstanceAddresses implements InstanceAddresses {
  constructor(private readonly ec2: Ec2Like) {}

  async privateIps(instanceIds: readonly string[]): Promise<ReadonlyMap<string, string>> {
    return new Map([...(await this.describe(instanceIds))].map(([id, i]) => [id, i.ip]));
  }

  async zones(instanceIds: readonly string[]): Promise<ReadonlyMap<string, string>> {
    const zones = new Map<string, string>();
    for (const [id, { zone }] of await this.describe(instanceIds)) if (zone) zones.set(id, zone);
    return zones;
  }

  private async describe(
    instanceIds: readonly string[],
  ): Promise<Map<string, { ip: string; zone?: string }>> {
    const found = new Map<string, { ip: string; zone?: string }>();
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
              found.set(inst.InstanceId, {
                ip: inst.PrivateIpAddress,
                zone: inst.Placement?.AvailabilityZone,
              });
        nextToken = out.NextToken;
      } while (nextToken);
    }
    return found;
  }
}
