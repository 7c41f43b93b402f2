DROP TABLE click_counts;
