"""What every feature means, in words, for ``docs/rules.md`` (generated: ``scripts/gen_rules_docs.py``).

The names come from the steps that compute them (each step declares its names once); this module
only explains them. A test checks that every computed name has an explanation here.
"""

from __future__ import annotations

from dunpai.risk.features import habit

EVENT = {
    "hour": "local hour of the event (0–24, fractional)",
    "night": "1 between midnight and 6:00 local time",
    "weekend": "1 on Saturday or Sunday",
    "weekday": "day of the week, Monday 0 … Sunday 6",
    "amount": "amount in major units (yuan, dollars)",
    "amount_cents": "the fraction of a major unit in the amount (0.05 for ¥12.05)",
    "amount_round": "1 for a whole multiple of 100 major units",
    "drain_ratio": "amount ÷ balance before (0 when the balance is unknown)",
    "drains_balance": "1 when the amount is exactly the whole balance before (the account emptied)",
    "balance_known": "1 when the event gave the balance before",
    "card_present": "1 for a card-present event",
    "withdrawal": "1 for an ATM withdrawal",
    "deposit": "1 for an ATM deposit",
    "chip_card": "1 when the card carries a chip (flag, or service code 2xx/6xx)",
    "stripe_read": "1 when read by magnetic stripe (entry mode 80, 90, 91)",
    "chip_fallback": "1 for a chip-to-stripe fallback (entry mode 80)",
    "terminal_chip_capable": "1 when the terminal reads chips",
    "chip_card_read_by_stripe": "1 for a chip card read by stripe at a chip-capable terminal",
    "shield_present": "1 when a transfer carries a mobile-shield signature",
    "cash_out": "1 for a mobile cash-out",
}

HABIT = {
    "count_10m": "uses in about the last 10 minutes (time-decayed), this one included",
    "count_1h": "uses in about the last hour, this one included",
    "count_24h": "uses in about the last day, this one included",
    "count_7d": "uses in about the last 7 days, this one included",
    "count_30d": "uses in about the last 30 days, this one included",
    "sum_1h": "amount paid in about the last hour, this payment included",
    "sum_24h": "amount paid in about the last day, this payment included",
    "sum_7d": "amount paid in about the last 7 days, this payment included",
    "sum_30d": "amount paid in about the last 30 days, this payment included",
    "history_n": "payments before this one",
    "secs_since_last": "seconds since the previous payment (1e9: none)",
    "age_days": "days since the first payment seen",
    "mean_30d": "mean amount over about the last 30 days (before this one)",
    "amount_ratio": "amount ÷ that mean (0 without history)",
    "amount_z": "(amount − mean) ÷ standard deviation, 30 days (0 with fewer than 3 payments)",
    "amount_pctl": "where the amount lies among the entity's own amounts (90-day memory, half-decade bins): "
                   "0.5 typical, 1.0 above all of them",
    "burst_24h": "uses in the last day ÷ (1 + the usual uses per day)",
    "hour_share": "share of the entity's payments in this 4-hour slot of the day (low: an unusual hour; "
                  "1 without history)",
    "weekday_share": "share of its payments on this day of the week",
    "new_merchant": "1 for a merchant (or terminal) not among its recent ones",
    "merchant_secs": "seconds since it last paid this merchant (1e9: new)",
    "merchants_24h": "distinct merchants in the last day",
    "new_category": "1 for a category (or MCC) not among its recent ones",
    "category_secs": "seconds since it last paid in this category (1e9: new)",
    "new_country": "1 for a country not among its recent ones",
    "new_channel": "1 for a channel (card-present read, online, transfer kind) not among its recent ones",
    "km_from_usual": "km from its usual place (running mean of its located payments), less the place's "
                     "accuracy",
    "radius_km": "how far from its usual place it usually pays (running mean)",
    "same_amount": "1 when the amount equals the previous payment's",
    "high_7d": "payments in the top tenth of its own amounts over about the last 7 days (this one included)",
    "amount_gratio": "amount ÷ geometric mean of its amounts over about 30 days (few huge amounts barely move it)",
}

FAN_IN = {
    "age_secs": "seconds since it was first seen",
    "count_24h": "payments in about the last day",
    "count_7d": "payments in about the last 7 days",
    "customers_24h": "distinct customers in the last day",
    "amount_ratio": "amount ÷ its mean amount over about 30 days",
    "fraud_7d": "fraud labels arrived in about the last 7 days",
    "fraud_30d": "fraud labels arrived in about the last 30 days",
    "fraud_rate_30d": "those labels ÷ its payments over about 30 days",
    "frauds_known": "fraud labels arrived, ever",
    "fraud_rate": "frauds known ÷ payments seen, ever",
    "secs_since_fraud": "seconds since a fraud label last arrived (1e9: never)",
    "recent_frauds": "confirmed frauds among its last 32 payments",
    "recent_labelled": "of those, how many are old enough (7 days) that a label would have arrived, or are "
                       "confirmed",
    "fraud_run": "consecutive confirmed frauds among the newest of those labelled payments",
    "recent_fraud_share": "recent frauds ÷ recent labelled",
    "fraud_ratio_min": "smallest amount-to-habit ratio (`card_amount_gratio`) among those frauds",
    "fraud_ratio_max": "largest amount-to-habit ratio among those frauds (skimmed terminal: ordinary amounts)",
}

FAN_IN_PREFIXES = {"term": "terminal", "merch": "merchant", "dev": "device", "payee": "payee", "ip": "IP address"}

OTHER = {
    "card_km_from_last_cp": "km from the previous card-present use, less both places' accuracy",
    "card_secs_since_last_cp": "seconds since the previous card-present use",
    "card_speed_kmh": "implied speed between them",
    "card_impossible_30d": "how often this card's card-present places already implied impossible travel, about "
                           "the last 30 days (coarse places make every card jump)",
    "card_new_city": "1 for a city not among the card's recent ones",
    "card_atc_backwards": "1 when the chip's transaction counter went backwards",
    "card_atc_jump": "how far the counter jumped ahead",
    "card_deposit_secs": "seconds since the card's last ATM deposit",
    "card_deposit_km": "km from that deposit",
    "card_blocked": "1 when a confirmed fraud blocked the card and no reissue or unblock has come since",
    "card_frauds_known": "fraud labels of the card arrived, ever",
    "card_secs_since_fraud": "seconds since the card's last fraud label arrived (1e9: never)",
    "card_fraud_rate": "frauds known ÷ the card's payments",
    "acct_outflow_1h": "money out of the account in about the last hour",
    "acct_outflow_24h": "money out of the account in about the last day",
    "acct_deposit_secs": "seconds since the account's last ATM deposit",
    "acct_deposit_amount": "that deposit's amount",
    "acct_frauds_known": "fraud labels of the account arrived, ever",
    "acct_fraud_rate": "frauds known ÷ the account's payments",
    "acct_secs_since_fraud": "seconds since the account's last fraud label arrived",
    "acct_inflow_secs": "seconds since money last arrived in the paying account (as a payee)",
    "acct_inflow_24h": "money arrived in the paying account in about the last day",
    "acct_out_in_ratio": "amount ÷ that inflow (money straight out again: a mule's pattern)",
    "cm_history_n": "this card's earlier payments at this merchant or terminal",
    "cm_secs_since_last": "seconds since it last paid there",
    "cm_frauds_known": "frauds of this card confirmed there",
    "cm_fraud_rate": "those frauds ÷ its payments there",
    "cm_secs_since_fraud": "seconds since such a label arrived",
    "payer_frauds_known": "fraud labels of the paying account arrived, ever",
    "payer_secs_since_fraud": "seconds since its last fraud label arrived",
    "cust_km_from_home": "km from the customer's home (given) or usual area (learned), less the place's accuracy",
    "cust_km_from_app": "km between a card-present use and the phone app's latest place",
    "cust_app_secs": "seconds since that app place was seen",
    "cust_new_device": "1 for a device the customer has not used",
    "cust_device_age_secs": "seconds since the device was first seen or enrolled (1e9: no device)",
    "cust_sim_change_secs": "seconds since a SIM change",
    "cust_remote_app_secs": "seconds since a remote-control app was found",
    "cust_overlay_secs": "seconds since an overlay app was found",
    "cust_malware_secs": "seconds since malware or rooting was found",
    "cust_login_secs": "seconds since the last login",
    "cust_login_new_device": "1 when that login came from a new device",
    "cust_new_payee": "1 for a payee the customer has not paid",
    "cust_xfer_count_24h": "transfers in about the last day",
    "cust_xfer_sum_24h": "amount transferred in about the last day",
    "cust_xfer_mean_30d": "mean transfer over about 30 days",
    "cust_xfer_ratio": "amount ÷ that mean",
    "cust_night_share": "share of the customer's activity at night",
    "cust_fraud_known": "1 once a fraud label of the customer arrived",
    "cust_frauds_known": "fraud labels of the customer arrived, ever",
    "cust_secs_since_fraud": "seconds since the customer's last fraud label arrived",
    "term_stripe_share_24h": "share of the terminal's reads by stripe in about the last day",
    "term_place_spread_km": "how far the places reported for the terminal spread (km from the first): 0 for a fixed "
                            "ATM or POS; large where a data source gives one id at many places, whose travel "
                            "`sig_impossible_travel` then discounts",
    "pop_amount_pctl": "where the amount lies among all the tenant's payments of this type (90-day memory): "
                       "what \"large\" means for a payer without a history",
    "cat_count_30d": "payments in this category across the tenant, about the last 30 days",
    "cat_amount_z": "how far the amount is from the category's usual amounts (z-score)",
    "cat_fraud_rate": "frauds confirmed in this category ÷ its payments, ever",
    "cat_fraud_rate_30d": "the same over about the last 30 days",
    "emp_count_1h": "records the employee queried in about the last hour",
    "emp_count_24h": "records queried in about the last day",
    "emp_daily_mean_30d": "the employee's usual records per day",
    "emp_volume_ratio": "today's volume ÷ that habit",
    "emp_no_business_24h": "queries with no business reference in about the last day",
    "emp_out_of_branch_24h": "queries of customers of other branches",
    "emp_off_hours_24h": "queries outside working hours",
    "emp_seq_run": "customer ids queried in sequence (scanning)",
    "emp_new_customer": "1 for a customer the employee has not looked up",
    "emp_tenure_days": "days since the employee's first query",
}


def describe(name: str) -> str | None:
    """The explanation of a feature name, or ``None`` if none is written."""
    if name in EVENT:
        return EVENT[name]
    if name in OTHER:
        return OTHER[name]
    for prefix, who in (("card", "the card"), ("payer", "the account a transfer leaves")):
        suffix = name.removeprefix(prefix + "_")
        if suffix != name and suffix in HABIT and suffix in habit.SUFFIXES:
            return f"{who}: {HABIT[suffix]}"
    for prefix, who in FAN_IN_PREFIXES.items():
        suffix = name.removeprefix(prefix + "_")
        if suffix != name and suffix in FAN_IN:
            return f"the {who}: {FAN_IN[suffix]}"
    return None
