"""Party organisations (党组织), members, dual registration (双报到) and volunteer service."""
