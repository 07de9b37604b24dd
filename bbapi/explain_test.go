package bbapi_test

import (
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/apierr"
)

func init() { bbapi.TestExplain = apierr.Explain }
