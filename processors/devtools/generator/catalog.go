package generator

// The catalogue of what devices do: price points, currencies, campaigns and
// custom event names, with weights that look like a mobile game or shop.

// currency is a currency with its share of purchases and its price points.
// Amounts are kept as the text of the JSON line, so encoding needs no float
// formatting.
type currency struct {
	code   string
	weight float64
	prices []string
}

var currencies = []currency{
	{"USD", 0.45, []string{"0.99", "1.99", "4.99", "9.99", "19.99", "49.99"}},
	{"EUR", 0.2, []string{"0.99", "1.99", "4.99", "9.99", "19.99"}},
	{"GBP", 0.1, []string{"0.89", "1.79", "4.49", "8.99"}},
	{"JPY", 0.1, []string{"120", "250", "610", "1220", "3060"}},
	{"BRL", 0.08, []string{"4.9", "9.9", "24.9"}},
	{"INR", 0.07, []string{"79", "159", "399"}},
}

// adRevenue are the small amounts of custom_revenue (ad impressions), USD.
var adRevenue = []string{"0.0012", "0.004", "0.015", "0.03", "0.12"}

var (
	acquisitionCampaigns = []string{"spring", "summer_sale", "brand", "lookalike"}
	retargetingCampaigns = []string{"winback", "lapsed_payers", "comeback"}
)

type customEvent struct {
	name  string
	param string // key of the one param it carries, "" for none
}

var customEvents = []customEvent{
	{"tutorial_complete", ""},
	{"level_up", "level"},
	{"add_to_cart", "item"},
	{"share", "channel"},
	{"achievement_unlocked", "achievement"},
	{"add_to_wishlist", "item"},
}

var paramValues = map[string][]string{
	"level":       {"2", "3", "5", "8", "13", "21"},
	"item":        {"sku-101", "sku-202", "sku-303", "sku-404"},
	"channel":     {"whatsapp", "instagram", "email"},
	"achievement": {"first_win", "collector", "streak_7"},
}
