package schemas

// Classified record types, the "type" field of a classified record.
const (
	TypeInstall      = "install"
	TypeReinstall    = "reinstall"
	TypeReengagement = "reengagement"

	TypeNewUser          = "new_user"
	TypeReengagementUser = "reengagement_user"

	TypeFirstPurchase   = "first_purchase"
	TypeFirstPurchaseCA = "first_purchase_ca"
	TypePurchase        = "purchase"
	TypePurchaseCA      = "purchase_ca"

	TypeFirstCustomRevenue   = "first_custom_revenue"
	TypeFirstCustomRevenueCA = "first_custom_revenue_ca"
	TypeCustomRevenue        = "custom_revenue"
	TypeCustomRevenueCA      = "custom_revenue_ca"

	TypeFirstRegistration = "first_registration"
	TypeRegistration      = "registration"
	TypeRegistrationCA    = "registration_ca"

	TypeFirstLogin = "first_login"
	TypeLogin      = "login"
	TypeLoginCA    = "login_ca"

	TypeCustomEvent   = "custom_event"
	TypeCustomEventCA = "custom_event_ca"
)

// RecordTypes lists every classified record type, for config validation.
var RecordTypes = []string{
	TypeInstall, TypeReinstall, TypeReengagement,
	TypeNewUser, TypeReengagementUser,
	TypeFirstPurchase, TypeFirstPurchaseCA, TypePurchase, TypePurchaseCA,
	TypeFirstCustomRevenue, TypeFirstCustomRevenueCA, TypeCustomRevenue, TypeCustomRevenueCA,
	TypeFirstRegistration, TypeRegistration, TypeRegistrationCA,
	TypeFirstLogin, TypeLogin, TypeLoginCA,
	TypeCustomEvent, TypeCustomEventCA,
}

// IsRecordType reports whether t is a classified record type.
func IsRecordType(t string) bool {
	for _, r := range RecordTypes {
		if r == t {
			return true
		}
	}
	return false
}
