DROP TABLE IF EXISTS click_values;
DROP TABLE IF EXISTS click_days;
DROP TABLE IF EXISTS click_hours;
