/**
 * The over-tokenized claims, in the order the report shows them: the text claims (Table 1, Fig. 5,
 * Table 6, Table 5's OT) and the cfg3f claims (Fig. 2). Each is a typed spec with gates and a rule (pure
 * functions of the summary); the runner writes them to verdicts.json.
 */
import type { ClaimResult } from "../../train/claims.js";
import type { OverTokenizedSummary } from "./summary.js";
import { logLinearClaim, oeTextClaim, otTextClaim, throughputClaim } from "./text-claims.js";
import { odLargeClaim, odSmallClaim, oeCfgClaim } from "./cfg-claims.js";

export { OE_TEXT, OE_LOG_LINEAR, OE_THROUGHPUT, OT_TEXT, PAPER_OT_OF_OE, PAPER_OE_FRACTION, MIN_ROWS_HIT, MIN_R2, THROUGHPUT_COST, THROUGHPUT_LOOSE } from "./text-claims.js";
export { OE_CFG, OD_SMALL, OD_LARGE, MIN_SIZE_RATIO } from "./cfg-claims.js";
export { TRAINED_BELOW_UNIGRAM, CFG_TRAINED_FRACTION, compareArms } from "./comparison.js";

/** Judge every claim (pure). Claims whose arms a config leaves out come out "not testable". */
export function overTokenizedClaims(s: OverTokenizedSummary): ClaimResult[] {
  return [oeTextClaim(s), logLinearClaim(s), throughputClaim(s), otTextClaim(s), oeCfgClaim(s), odSmallClaim(s), odLargeClaim(s)];
}
