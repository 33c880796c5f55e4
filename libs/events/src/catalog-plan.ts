import { IdPrefix, newId } from '@ipm/core';
import type { CatalogRegistry } from '@ipm/catalog';
import type { PublishEventDto } from './dto/publish.dto';
import { payloadsToValidate, planPublish, PublishPlan, typesToLookUp } from './publish-plan';

/**
 * planPublish with the catalog's I/O done first, for `/event/publish` and event imports alike: one lookup of the
 * batch's types, then every payload validated against its schema (tenants' off the event loop, with a deadline).
 */
export async function planAgainstCatalog(
  catalog: CatalogRegistry,
  orgcode: string,
  items: readonly PublishEventDto[],
): Promise<PublishPlan> {
  const types = await catalog.findMany(orgcode, typesToLookUp(items));
  const toValidate = payloadsToValidate(items, types);
  const verdicts = await catalog.validateMany(orgcode, toValidate);
  const byIndex = new Map(toValidate.map((v, k) => [v.index, verdicts[k]]));
  return planPublish(items, {
    types,
    verdict: (index) => byIndex.get(index) ?? [],
    deadline: `${catalog.validationDeadlineMs} ms`,
    newEventId: () => newId(IdPrefix.Event),
  });
}
